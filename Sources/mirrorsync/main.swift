import MirrorCLI
MirrorsyncCommand.main()
