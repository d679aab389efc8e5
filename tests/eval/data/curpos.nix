pos: __curPos
