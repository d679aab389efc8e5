x:
 y