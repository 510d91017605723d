Bx3JZ}
>