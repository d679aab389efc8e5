let __nixPath = [ ]; in <a>
