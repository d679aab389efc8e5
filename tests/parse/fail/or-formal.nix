{ or }: or
