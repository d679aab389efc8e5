{ inherit
