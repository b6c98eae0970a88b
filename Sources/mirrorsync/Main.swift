import MirrorCLI

@main
extension MirrorsyncCommand {}
