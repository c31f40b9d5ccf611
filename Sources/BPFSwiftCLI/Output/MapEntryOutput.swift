#if canImport(Glibc)
import Glibc
#endif
import BPFCore

/// The BTF a map's elements are formatted with, when it has any: the map's own
/// BTF, or vmlinux BTF for a value type that lives there (struct_ops), as
/// bpftool's get_map_kv_btf picks it.
struct MapBTFFormat {
    let keyTypeID: UInt32
    let valueTypeID: UInt32
    /// One dumper per map: it compiles each type once.
    let dumper: BTFDumper

    init(btf: BTF, keyTypeID: UInt32, valueTypeID: UInt32) {
        self.keyTypeID = keyTypeID
        self.valueTypeID = valueTypeID
        dumper = BTFDumper(btf: btf)
    }

    static func load(for info: MapInfo) throws(BPFError) -> MapBTFFormat? {
        if info.btfVmlinuxValueTypeID != 0 {
            return MapBTFFormat(btf: try BTF.vmlinux(), keyTypeID: info.btfKeyTypeID,
                                valueTypeID: info.btfVmlinuxValueTypeID)
        }
        if info.btfValueTypeID != 0 {
            return MapBTFFormat(btf: try BTF.load(id: BTFID(info.btfID)), keyTypeID: info.btfKeyTypeID,
                                valueTypeID: info.btfValueTypeID)
        }
        return nil
    }

    func writeJSON(_ typeID: UInt32, _ data: UnsafeRawBufferPointer, to w: inout JSONWriter) throws(BPFError) {
        try dumper.writeJSON(typeID: typeID, data: data, to: &w)
    }

    func writeText(_ typeID: UInt32, _ data: UnsafeRawBufferPointer, indent: Int,
                   chunk: @escaping (UnsafeBufferPointer<UInt8>) -> Void) throws(BPFError) {
        try dumper.writeText(typeID: typeID, data: data, indent: indent, chunk: chunk)
    }
}

/// How one map's elements are printed: bpftool's print_entry_plain,
/// print_entry_json, print_entry_error and (text with BTF) do_dump_btf through
/// its pretty JSON writer.
final class MapEntryPrinter: MapWalkVisitor {
    enum Style {
        case json(MapJSONEmitter)
        /// Text, with the bpftool pretty writer when the elements are BTF-formatted.
        case text(BpftoolPrettyWriter?)
    }

    let info: MapInfo
    let cpus: Int
    let style: Style
    let btf: MapBTFFormat?
    let out: MapByteBuffer
    /// Elements printed (lookup failures are not counted, as in bpftool).
    private(set) var printed = 0

    private let keySize: Int
    private let valueSize: Int
    private let perCPU: Bool
    private let mapOfMaps: Bool
    private let breakNames: Bool
    private let singleLine: Bool
    /// An upper bound of the text bytes of one element.
    private let textBound: Int

    init(info: MapInfo, cpus: Int, style: Style, btf: MapBTFFormat?, out: MapByteBuffer) {
        self.info = info
        self.cpus = cpus
        self.style = style
        self.btf = btf
        self.out = out
        keySize = Int(info.keySize)
        valueSize = Int(info.valueSize)
        perCPU = info.type.isPerCPU
        mapOfMaps = info.type.isMapOfMaps
        breakNames = keySize > 16 || valueSize > 16
        singleLine = keySize + valueSize <= 24 && !breakNames
        textBound = 64 + 4 * keySize + (perCPU ? cpus * (32 + 4 * valueSize) : 4 * valueSize)
    }

    // MARK: MapWalkVisitor

    func visit(_ entries: MapEntries) throws(BPFError) {
        switch style {
        case .text(nil):
            if !perCPU {
                for i in 0..<entries.count { plainEntry(entries.key(i), entries.value(i)) }
            } else {
                for i in 0..<entries.count { plainPerCPUEntry(entries.key(i), entries.value(i)) }
            }
        case .text(let pw?):
            for i in 0..<entries.count {
                if let btf { try btfTextEntry(pw, btf, entries.key(i), entries.value(i)) }
                else if perCPU { plainPerCPUEntry(entries.key(i), entries.value(i)) }
                else { plainEntry(entries.key(i), entries.value(i)) }
            }
        case .json(let j):
            for i in 0..<entries.count { try jsonEntry(j, entries.key(i), entries.value(i)) }
        }
        printed += entries.count
    }

    /// One element (lookup, peek, pop).
    func printOne(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(BPFError) {
        switch style {
        case .text(nil):
            if perCPU { plainPerCPUEntry(key, value) } else { plainEntry(key, value) }
        case .text(let pw?):
            if let btf { try btfTextEntry(pw, btf, key, value) }
            else if perCPU { plainPerCPUEntry(key, value) } else { plainEntry(key, value) }
        case .json(let j):
            try jsonEntry(j, key, value)
        }
        printed += 1
    }

    func visitLookupFailure(key: UnsafeRawBufferPointer, errno e: Int32) throws(BPFError) {
        // An empty slot of a prog_array or map-of-maps is not an element.
        if (info.type.isMapOfMaps || info.type.isProgArray) && e == ENOENT { return }
        switch style {
        case .json(let j):
            j.beginObject()
            j.key("key"); j.hexArray(key)
            j.key("value"); j.beginObject(); j.key("error"); j.string(errnoText(e)); j.endObject()
            j.endObject()
        case .text:
            var msg: String
            if e == ENOENT { msg = "<no entry>" }
            else if e == ENOSPC && info.type == .reuseportSockarray { msg = "<cannot read>" }
            else { msg = errnoText(e) }
            let msgSize = msg.utf8.count
            let breakNames = keySize > 16 || msgSize > 16
            let singleLine = keySize + msgSize <= 24 && !breakNames
            out.reserve(16 + 4 * keySize)
            out.put("key:"); out.put(breakNames ? 10 : 32)
            hexBlock(key)
            out.put(singleLine ? "  " : "\n")
            out.put("value:"); out.put(breakNames ? 10 : 32)
            msg += "\n"
            out.write(msg)
        }
    }

    // MARK: text

    /// bpftool's fprint_hex with a " " separator: 16 bytes a line, a double
    /// space after 8.
    @inline(__always)
    private func hexBlock(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        var i = 0
        while i < n {
            if i > 0 {
                if i & 15 == 0 { out.put(10) }
                else if i & 7 == 0 { out.put(32); out.put(32) }
                else { out.put(32) }
            }
            out.putHex(bytes[i])
            i += 1
        }
    }

    @inline(__always)
    private func plainEntry(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        out.reserve(textBound)
        if keySize > 0 {
            out.put("key:"); out.put(breakNames ? 10 : 32)
            hexBlock(key)
            if singleLine { out.put(32); out.put(32) } else { out.put(10) }
        }
        if valueSize > 0 {
            if mapOfMaps {
                out.put("inner_map_id:"); out.put(breakNames ? 10 : 32)
                out.putDecimal(UInt64(value.loadUnaligned(as: UInt32.self)))
                out.put(32)
            } else {
                out.put("value:"); out.put(breakNames ? 10 : 32)
                hexBlock(UnsafeRawBufferPointer(rebasing: value[0..<valueSize]))
            }
        }
        out.put(10)
    }

    private func plainPerCPUEntry(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        out.reserve(textBound)
        if keySize > 0 {
            out.put("key:\n")
            hexBlock(key)
            out.put(10)
        }
        guard valueSize > 0 else { return }
        let stride = info.perCPUValueStride
        for cpu in 0..<cpus {
            out.put("value (CPU ")
            if cpu < 10 { out.put(48) }
            out.putDecimal(UInt64(cpu))
            out.put("):"); out.put(valueSize > 16 ? 10 : 32)
            hexBlock(UnsafeRawBufferPointer(rebasing: value[(cpu * stride)..<(cpu * stride + valueSize)]))
            out.put(10)
        }
    }

    /// do_dump_btf in plain-text mode.
    private func btfTextEntry(_ pw: BpftoolPrettyWriter, _ btf: MapBTFFormat,
                              _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(BPFError) {
        pw.beginObject()
        if btf.keyTypeID != 0 {
            pw.name("key")
            try btfText(pw, btf, btf.keyTypeID, key)
        }
        if !perCPU {
            pw.name("value")
            try btfText(pw, btf, btf.valueTypeID, UnsafeRawBufferPointer(rebasing: value[0..<valueSize]))
        } else {
            pw.name("values")
            pw.beginArray()
            let stride = info.perCPUValueStride
            for cpu in 0..<cpus {
                pw.beginObject()
                pw.uintField("cpu", UInt64(cpu))
                pw.name("value")
                try btfText(pw, btf, btf.valueTypeID,
                            UnsafeRawBufferPointer(rebasing: value[(cpu * stride)..<(cpu * stride + valueSize)]))
                pw.endObject()
            }
            pw.endArray()
        }
        pw.endObject()
    }

    private func btfText(_ pw: BpftoolPrettyWriter, _ btf: MapBTFFormat, _ typeID: UInt32,
                         _ data: UnsafeRawBufferPointer) throws(BPFError) {
        pw.separate()
        let out = self.out
        try btf.writeText(typeID, data, indent: pw.depth) { out.write($0) }
    }

    // MARK: JSON

    private func jsonEntry(_ j: MapJSONEmitter, _ key: UnsafeRawBufferPointer,
                           _ value: UnsafeRawBufferPointer) throws(BPFError) {
        j.beginObject()
        j.key("key"); j.hexArray(key)
        if !perCPU {
            j.key("value"); j.hexArray(UnsafeRawBufferPointer(rebasing: value[0..<valueSize]))
            if mapOfMaps {
                j.key("inner_map_id"); j.uint(UInt64(value.loadUnaligned(as: UInt32.self)))
            }
        } else {
            j.key("values")
            j.beginArray()
            let stride = info.perCPUValueStride
            for cpu in 0..<cpus {
                j.beginObject()
                j.key("cpu"); j.uint(UInt64(cpu))
                j.key("value"); j.hexArray(UnsafeRawBufferPointer(rebasing: value[(cpu * stride)..<(cpu * stride + valueSize)]))
                j.endObject()
            }
            j.endArray()
        }
        if let btf {
            j.key("formatted")
            // Streamed: a large value's JSON goes out in pieces as it is made.
            j.beginSplice()
            var w = JSONWriter(pretty: j.pretty)
            w.spill = { j.spliceChunk($0) }
            try formattedJSON(&w, btf, key, value)
            w.bytes.withUnsafeBufferPointer { j.spliceChunk($0) }
        }
        j.endObject()
    }

    /// do_dump_btf in JSON mode: {"key": ..., "value"|"values": ...}.
    private func formattedJSON(_ w: inout JSONWriter, _ btf: MapBTFFormat,
                               _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(BPFError) {
        w.beginObject()
        if btf.keyTypeID != 0 {
            w.key("key")
            try btf.writeJSON(btf.keyTypeID, key, to: &w)
        }
        if !perCPU {
            w.key("value")
            try btf.writeJSON(btf.valueTypeID, UnsafeRawBufferPointer(rebasing: value[0..<valueSize]), to: &w)
        } else {
            w.key("values")
            w.beginArray()
            let stride = info.perCPUValueStride
            for cpu in 0..<cpus {
                w.beginObject()
                w.field("cpu", cpu)
                w.key("value")
                try btf.writeJSON(btf.valueTypeID,
                                  UnsafeRawBufferPointer(rebasing: value[(cpu * stride)..<(cpu * stride + valueSize)]), to: &w)
                w.endObject()
            }
            w.endArray()
        }
        w.endObject()
    }
}
