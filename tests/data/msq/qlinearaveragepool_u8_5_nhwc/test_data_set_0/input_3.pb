Bx3Jë
E>