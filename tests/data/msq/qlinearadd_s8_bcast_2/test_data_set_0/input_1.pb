Bx1J
W>