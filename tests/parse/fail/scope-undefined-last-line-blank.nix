x:
 y

