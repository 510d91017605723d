Bx1Jp
:=