
Bx2J%