x@
