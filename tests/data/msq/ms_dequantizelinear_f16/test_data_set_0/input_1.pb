
Bx1JL"