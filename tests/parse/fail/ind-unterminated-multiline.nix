''
  abc
  def
