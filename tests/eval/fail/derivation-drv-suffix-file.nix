"${./../data/x.drv}"
