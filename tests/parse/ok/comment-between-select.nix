x: x /* c */ . /* d */ a
