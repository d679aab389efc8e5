''a''\nb''\tc''\rd''\\e''\xf''\'g''
