
BPlus214_Output_0J(ÆCKÀPTJA÷—„Àí<À!—¿YØ“À®ŠÿÀð
?øwÌ¾9hÀ