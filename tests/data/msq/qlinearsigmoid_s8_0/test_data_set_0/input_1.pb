Bx1Ji
C=