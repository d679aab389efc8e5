{ zz, name, aa, outPath }: zz
