1 /* abc *
