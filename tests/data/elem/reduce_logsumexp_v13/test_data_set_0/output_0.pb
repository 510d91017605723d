By0J C_¼¾çÄZBy2¬Bj
’B†QHA¢å˜BmžmBUÅ…A