x: y: z: x
