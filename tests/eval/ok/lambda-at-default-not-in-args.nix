# defaults are not added to the @-bound set
let f = args@{ a ? 1 }: args; in f { }
