# The man pages that swift-argument-parser's generate-manual writes, as Debian (and lintian) want them; run by
# scripts/release.sh on each page. generate-manual names a subcommand's page mirrorsync.credential.token.1, its NAME
# "mirrorsync credential token" (a name with spaces, which whatis cannot index), quotes its description, and leaves
# the empty lines of a command's discussion, which mdoc warns of. Here: the page is mirrorsync-credential-token(1)
# in NAME, in .Dt and in every .Xr; its SYNOPSIS keeps the command as it is typed; an empty line is a paragraph
# break (.Pp); and the page of the `help` subcommand, which says nothing that --help does not, is not linked to.
function dashed(name) { gsub(/\./, "-", name); return name }
/^\.Xr mirrorsync\.help 1/ { next }
/^\.Xr mirrorsync/ || /^\.Dt MIRRORSYNC/ { $2 = dashed($2) }
/^\.Nm "mirrorsync .*"$/ {
    command = substr($0, 6, length($0) - 6)
    name = command
    gsub(/ /, "-", name)
    print ".Nm " name
    next
}
/^\.Nm$/ && command != "" { print ".Nm " command; next }
/^\.Nd "/ { sub(/^\.Nd "/, ".Nd "); sub(/"$/, "") }
/^$/ { print ".Pp"; next }
{ print }
