	Bx0J6,µºõÆC‰ﬂôhZí‰:+qµ√∑P
jñ±XF±–k≈Cc”<≥4˛¬˙Ky ÙJIõp˘VoÌ