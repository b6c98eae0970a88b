"""Extract the regex constants from the Swift sources (Swift string escapes undone)."""
import re, json, sys
import os
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources", "MirrorCore") + "/"
def lit(s):
    # undo Swift escapes used in these literals: \\ -> \, \" -> "
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\":
            nxt = s[i+1]
            out.append({"\\": "\\", '"': '"', "n": "\n", "t": "\t"}[nxt]); i += 2
        else:
            out.append(s[i]); i += 1
    return "".join(out)
def const(file, name):
    text = open(SRC + file).read()
    m = re.search(r'static let ' + re.escape(name) + r'\s*=\s*"((?:[^"\\]|\\.)*)"', text)
    return lit(m.group(1))
def section(file, enum):
    text = open(SRC + file).read()
    i = text.index(enum)
    m = re.search(r'static let pattern\s*=\s*"((?:[^"\\]|\\.)*)"', text[i:])
    return lit(m.group(1))
C = {
 "ObjectName": section("ObjectName.swift", "enum ObjectName"),
 "TimeSpan": section("TimeSpan.swift", "struct TimeSpan"),
 "ByteSize": section("ByteSize.swift", "struct ByteSize"),
 "MirrorPath": section("MirrorPath.swift", "enum MirrorPath"),
 "AbsolutePath": section("AbsolutePath.swift", "enum AbsolutePath"),
 "AgentURL": section("AgentURL.swift", "enum AgentURL"),
 "UpstreamLocation": section("UpstreamLocation.swift", "enum UpstreamLocation"),
 "DeletionLimit.percent": const("DeletionLimit.swift", "percentPattern"),
 "filterPatternSchema": const("RsyncPolicy.swift", "filterPatternSchema"),
 "CronExpression": section("Cron.swift", "struct CronExpression"),
 "DisplayText": section("DisplayText.swift", "enum DisplayText"),
 "WebLink": section("WebLink.swift", "enum WebLink"),
}
rp = open(SRC + "RsyncPolicy.swift").read()
flags_block = rp[rp.index("allowedFlags: [String] = [") + len("allowedFlags: [String] = ["):]
flags_block = flags_block[:flags_block.index("]")]
C["allowedFlags"] = re.findall(r'"(--[a-z0-9-]+)"', flags_block)
vo = rp[rp.index("allowedValueOptions"):rp.index("/// Why well-known")]
C["allowedValueOptions"] = [(n, lit(p)) for n, p in re.findall(r'\(\s*"(--[a-z-]+)",\s*"((?:[^"\\]|\\.)*)"', vo)]
if __name__ == "__main__":
    print(json.dumps(C, indent=1))
