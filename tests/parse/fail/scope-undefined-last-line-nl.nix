x:
 y
