# <p> desugars to __findFile __nixPath "p", so both can be shadowed lexically
let __findFile = path: name: "found ${name} in ${builtins.toJSON path}"; __nixPath = [ "sp" ]; in <some/thing>
