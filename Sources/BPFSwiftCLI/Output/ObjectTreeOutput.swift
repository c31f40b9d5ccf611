import BPFCore

/// The view model of `object show` (and of `object pin -j`): one tree, its
/// manifest and what each recorded pin holds now. Keys are documented in
/// Docs/object-json.md and kept stable.
struct ObjectTreeView {
    let status: ObjectTreeStatus

    init(_ status: ObjectTreeStatus) { self.status = status }

    private func pinned(_ rel: String) -> String {
        status.path.hasSuffix("/") ? status.path + rel : status.path + "/" + rel
    }

    func writeJSON(to w: inout JSONWriter, result: String? = nil) {
        let m = status.manifest
        w.beginObject()
        if let result { w.field("result", result) }
        w.field("path", status.path)
        w.field("state", status.complete ? "complete" : "incomplete")
        w.field("complete", status.complete)
        w.key("missing"); w.beginArray(); for p in status.missing { w.string(p) }; w.endArray()
        w.field("format", ObjectManifest.formatVersion)
        w.key("problem"); if let p = status.problem { w.string(p) } else { w.null() }
        w.key("name"); if let m { w.string(m.objectName) } else { w.null() }
        w.key("sha256"); if let m { w.string(m.sha256) } else { w.null() }
        w.key("file"); if let m { w.string(m.file) } else { w.null() }
        w.key("pinned_at"); if let m { w.int(m.pinnedAt) } else { w.null() }
        w.key("options"); if let m { w.string(m.options) } else { w.null() }
        w.key("attach"); if let m { w.bool(m.attach) } else { w.null() }
        w.key("manifest_id"); if let id = status.manifestID { w.int(id) } else { w.null() }

        w.key("maps"); w.beginArray()
        for map in m?.maps ?? [] {
            let rel = ObjectTreeLayout.mapsDir + "/" + map.pinName
            w.beginObject()
            w.field("name", map.name)
            w.field("pinned", pinned(rel))
            w.field("id", map.id)
            w.field("type", map.type)
            w.field("present", status.entry(rel)?.present ?? false)
            w.key("shared_pin"); if let s = map.sharedPin { w.string(s) } else { w.null() }
            w.key("reused_pin"); if let s = map.reusedPin { w.string(s) } else { w.null() }
            w.endObject()
        }
        w.endArray()

        w.key("programs"); w.beginArray()
        for p in m?.programs ?? [] {
            let rel = ObjectTreeLayout.programsDir + "/" + p.name
            let link = p.link.flatMap { name in m?.links.first { $0.pinName == name } }
            let linkRel = link.map { ObjectTreeLayout.linksDir + "/" + $0.pinName }
            w.beginObject()
            w.field("name", p.name)
            w.field("pinned", pinned(rel))
            w.field("id", p.id)
            w.field("type", p.type)
            w.field("section", p.section)
            w.field("present", status.entry(rel)?.present ?? false)
            w.field("attached", linkRel.map { status.entry($0)?.present ?? false } ?? false)
            w.key("link"); if let linkRel { w.string(pinned(linkRel)) } else { w.null() }
            w.key("link_id"); if let link { w.int(link.id) } else { w.null() }
            w.key("not_attached"); if let n = p.notAttached { w.string(n) } else { w.null() }
            w.endObject()
        }
        w.endArray()

        w.key("links"); w.beginArray()
        for l in m?.links ?? [] {
            let rel = ObjectTreeLayout.linksDir + "/" + l.pinName
            w.beginObject()
            w.field("name", l.pinName)
            w.field("pinned", pinned(rel))
            w.field("id", l.id)
            w.field("type", l.type)
            w.field("present", status.entry(rel)?.present ?? false)
            w.key("program"); if let p = l.program { w.string(p) } else { w.null() }
            w.key("struct_ops_map"); if let s = l.structOpsMap { w.string(s) } else { w.null() }
            w.endObject()
        }
        w.endArray()
        w.endObject()
    }

    func text() -> String {
        var out = ""
        guard let m = status.manifest else {
            return "\(shown(status.path)): object tree, incomplete: \(shown(status.problem ?? "no manifest"))\n"
        }
        out += "\(shown(status.path)): object \(shown(m.objectName)), \(status.complete ? "complete" : "incomplete")\n"
        out += "\tsha256 \(m.sha256)\n"
        out += "\tfile \(m.file)\n"
        out += "\tpinned_at \(formatLocalTime(m.pinnedAt))\n"
        out += "\toptions \(m.options)\n"
        func mark(_ rel: String) -> String { status.entry(rel)?.present == true ? "" : "  MISSING" }
        for map in m.maps {
            let rel = ObjectTreeLayout.mapsDir + "/" + map.pinName
            var line = "map \(map.id): \(shown(map.type))  \(shown(rel))"
            if map.pinName != map.name { line += "  (\(shown(map.name)))" }
            if let s = map.sharedPin { line += "  shared at \(shown(s))" }
            if let s = map.reusedPin { line += "  reuses \(shown(s))" }
            out += line + mark(rel) + "\n"
        }
        for p in m.programs {
            let rel = ObjectTreeLayout.programsDir + "/" + p.name
            var line = "prog \(p.id): \(shown(p.type))  \(shown(rel))  section \(shown(p.section))"
            if let name = p.link, let l = m.links.first(where: { $0.pinName == name }) {
                let lrel = ObjectTreeLayout.linksDir + "/" + l.pinName
                line += status.entry(lrel)?.present == true ? "  attached by link \(l.id)" : "  not attached (link \(l.id) missing)"
            } else if let why = p.notAttached {
                line += "  not attached: \(why)"
            } else {
                line += "  not attached"
            }
            out += line + mark(rel) + "\n"
        }
        for l in m.links {
            let rel = ObjectTreeLayout.linksDir + "/" + l.pinName
            var line = "link \(l.id): \(shown(l.type))  \(shown(rel))"
            if let p = l.program { line += "  program \(shown(p))" }
            if let s = l.structOpsMap { line += "  struct_ops map \(shown(s))" }
            out += line + mark(rel) + "\n"
        }
        return out
    }
}

/// The view model of `object list`.
enum ObjectListView {
    static func writeJSON(_ items: [ObjectTreeListing], to w: inout JSONWriter) {
        w.beginArray()
        for i in items {
            w.beginObject()
            w.field("path", i.path)
            w.field("state", i.state.rawValue)
            w.key("name"); if let m = i.manifest { w.string(m.objectName) } else { w.null() }
            w.key("sha256"); if let m = i.manifest { w.string(m.sha256) } else { w.null() }
            w.key("tree"); if let t = i.treePath { w.string(t) } else { w.null() }
            w.endObject()
        }
        w.endArray()
    }

    static func text(_ items: [ObjectTreeListing]) -> String {
        var out = ""
        for i in items {
            var line = i.state.rawValue.padding(10) + " " + i.path
            if let m = i.manifest { line += "  object \(shown(m.objectName))  sha256 \(m.sha256.prefix(16))" }
            if let t = i.treePath { line += "  (staging of \(shown(t)))" }
            out += line + "\n"
        }
        return out
    }
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
