''  abc''
