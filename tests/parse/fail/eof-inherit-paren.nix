{ inherit (
