''abc'
