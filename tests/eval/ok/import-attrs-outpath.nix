(import { outPath = toString ../data/simple.nix; }).b
