let zz = 1; name = 2; aa = 3; outPath = 4; in zz
