x: x/*c*/
