a: c: [ a.b or c ]
