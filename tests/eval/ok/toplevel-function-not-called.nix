# nix-instantiate --eval does not auto-call a top-level function unless --arg/--argstr is given
{ a ? 1, b ? a + 1, ... }: [ a b ]
