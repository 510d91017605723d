(
Bx0JP>LyIŸIÚNJÅ)I+HÇÀ`ËsHšIxÍŸÅ½È÷Ê5ÍG$ÆU¾U@ºI¡:'Æ]JGÇ»D–KGWÌ¢Ã-ÉkK–µ§@gB ÃbÌëÆtJ|Ç