
ByJ†Ñh0!;gnN>eP(/GciXP'!%M_\amt*LTDNsÖ!+,'1hÑ#%('!*há_M*** 8pç}b,/3)?uêzb2)Hcy}qk]TA=FUinc]#8aeB:KOFB5dd7*;?50LKI<%$:=.'OE1''/??/(($$=JKE82#IXQH<7