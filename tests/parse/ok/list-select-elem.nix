a: c: [ a.b c ]
