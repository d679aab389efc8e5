{ rec }: 1
