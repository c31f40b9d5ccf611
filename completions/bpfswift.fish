# bpfswift(8) fish completion
#
# Objects, verbs and options follow bpfswift's command tables (a test drives
# this file against them, see Tests/BPFSwiftCLITests/CompletionTests.swift).
# Live ids and names come from the bpfswift being completed, through its
# pretty JSON (`bpfswift -p prog show`, ...); without the privileges the
# command needs, nothing is offered.
#
# Install: copy to /usr/share/fish/vendor_completions.d/bpfswift.fish (scripts/install does).

function __bpfswift_objects
    printf '%s\t%s\n' \
        prog 'BPF programs' \
        map 'BPF maps' \
        link 'BPF links' \
        object 'whole BPF object files and their pinned trees' \
        struct_ops 'struct_ops maps' \
        gen 'code generation: skeletons' \
        btf 'BTF objects: show, dump (vmlinux.h)' \
        net 'XDP, tc and other network attachments' \
        cgroup 'programs attached to cgroups' \
        perf 'programs behind perf events, by process' \
        iter 'BPF iterators' \
        feature 'probe BPF features of the kernel' \
        version 'versions of bpfswift and libbpf' \
        help 'usage'
end

# The verbs of an object in command-table order (a prefix selects the first
# verb it starts with, as bpfswift does); help last, as in the dispatcher.
function __bpfswift_verbs -a obj
    switch $obj
        case prog
            printf '%s\t%s\n' show 'show programs' list 'show programs' pin 'pin a program' \
                dump 'write translated or JITed instructions to a file' \
                load 'load an object, pin its first program' loadall 'load an object, pin every program' \
                attach 'attach to a map or the flow dissector' detach 'detach from a map or the flow dissector' \
                run 'test-run a program' tracelog 'print the trace pipe' help usage
        case map
            printf '%s\t%s\n' show 'show maps' list 'show maps' dump 'print every element' \
                update 'store an element' lookup 'print one element' getnext 'print the next key' \
                delete 'remove an element' pin 'pin a map' create 'create and pin a map' \
                peek 'print the head or top' push 'push onto a stack' enqueue 'append to a queue' \
                pop 'take the top of a stack' dequeue 'take the head of a queue' \
                freeze 'make read-only for user space' help usage
        case link
            printf '%s\t%s\n' show 'show links' list 'show links' pin 'pin a link' detach 'detach a link' help usage
        case object
            printf '%s\t%s\n' pin 'load and pin a whole object' show 'print a pinned tree' \
                unpin 'remove a pinned tree' list 'list pinned trees' inspect 'describe an object file offline' \
                help usage
        case struct_ops
            printf '%s\t%s\n' show 'show struct_ops maps' list 'show struct_ops maps' \
                register 'register the struct_ops maps of an object' unregister 'unregister struct_ops maps' \
                dump 'print struct_ops maps with their values' help usage
        case gen
            printf '%s\t%s\n' skeleton 'print a skeleton of an object' help usage
        case net
            printf '%s\t%s\n' show 'show network attachments' list 'show network attachments' \
                attach 'attach to a device' detach 'detach from a device' help usage
        case cgroup
            printf '%s\t%s\n' show 'show a cgroup' list 'show a cgroup' tree 'show every cgroup below' \
                attach 'attach to a cgroup' detach 'detach from a cgroup' help usage
        case perf
            printf '%s\t%s\n' show 'show perf attachments' list 'show perf attachments' help usage
        case iter
            printf '%s\t%s\n' pin 'pin an iterator' help usage
        case feature
            printf '%s\t%s\n' probe 'probe the BPF features of the kernel' list_builtins 'list known type and helper names' help usage
        case btf
            printf '%s\t%s\n' show 'show BTF objects' list 'show BTF objects' \
                dump 'print BTF types, raw or as a C header' help usage
    end
end

function __bpfswift_global_options
    printf '%s\t%s\n' -j 'print JSON' --json 'print JSON' -p 'pretty JSON' --pretty 'pretty JSON' \
        -d 'libbpf debug log' --debug 'libbpf debug log' -f 'show pinned paths' --bpffs 'show pinned paths' \
        -h usage --help usage -V version --version version
end

function __bpfswift_verb_options -a obj verb
    switch "$obj $verb"
        case 'prog show' 'prog list'
            printf '%s\t%s\n' --metadata 'programs with metadata [KEY[=VALUE]]'
        case 'object pin'
            printf '%s\t%s\n' --attach 'attach every program and struct_ops map' \
                --pin-root 'directory for by-name pins' --enable 'create MAP' --disable 'do not create MAP' \
                --replace 'replace a different object at PATH' --map 'NAME=PINNED_FILE: reuse a pinned map' \
                --pin-map 'NAME=FILE: pin path of a map' --attach-to 'PROG=TARGET: attach a program there'
        case 'struct_ops register'
            printf '%s\t%s\n' --enable 'register MAP' --disable 'do not register MAP'
        case 'gen skeleton'
            printf '%s\t%s\n' --lang 'swift or c'
        case 'help*'
            printf '%s\t%s\n' --man 'print a man page'
    end
end

function __bpfswift_valued_option -a opt
    contains -- $opt --pin-root --enable --disable --map --pin-map --attach-to --lang
end

# The first candidate (first field) that starts with WORD.
function __bpfswift_expand -a word
    for c in $argv[2..-1]
        set -l name (string split -f1 \t -- $c)
        set -l head (string sub -l (string length -- $word) -- $name)
        if test "$head" = "$word"
            echo $name
            return 0
        end
    end
    return 1
end

# FIELD of every element of the top-level JSON array `bpfswift -p ARGS...`
# prints, keeping elements whose "type" is one of TYPES (all when empty).
function __bpfswift_fields -a bin field types
    $bin -p $argv[4..-1] 2>/dev/null | command awk -v field="$field" -v types=" $types " '
        /^    \{/ { split("", f); next }
        /^        "[^"]+": / {
            k = $0; sub(/^        "/, "", k); sub(/".*/, "", k)
            v = $0; sub(/^[^:]*: /, "", v); sub(/,$/, "", v); gsub(/^"|"$/, "", v)
            f[k] = v; next
        }
        /^    \}/ {
            if ((field in f) && (types == "  " || index(types, " " f["type"] " ") > 0) && !(f[field] in seen)) { seen[f[field]] = 1; print f[field] }
        }'
end

function __bpfswift_metadata_keys -a bin
    $bin -p prog show --metadata 2>/dev/null | command awk '
        /^        "metadata": \{/ { inside = 1; next }
        inside && /^        \}/ { inside = 0; next }
        inside && /^            "/ { k = $0; sub(/^            "/, "", k); sub(/".*/, "", k); print k }' |
        command sort -u
end

# Map names of the BPF object file OBJ (offline); only struct_ops maps when TYPE is struct_ops.
function __bpfswift_object_maps -a bin obj type
    test -n "$obj"; and test -r "$obj"; or return 0
    $bin -p object inspect $obj 2>/dev/null | command awk -v want="$type" '
        /^    "maps": \[/ { inside = 1; next }
        inside && /^    \]/ { inside = 0; next }
        inside && /^        \{/ { name = ""; type = ""; next }
        inside && /^            "name": "/ { name = $0; sub(/^            "name": "/, "", name); sub(/",?$/, "", name); next }
        inside && /^            "type": "/ { type = $0; sub(/^            "type": "/, "", type); sub(/",?$/, "", type); next }
        inside && /^        \}/ { if (name != "" && (want == "" || type == want)) print name }'
end

function __bpfswift_map_types -a bin
    $bin map help 2>/dev/null | string match -r 'TYPE := \{.*\}' | string replace -r '.*\{ *(.*?) *\}.*' '$1' |
        string split ' | '
end

function __bpfswift_files -a cur
    __fish_complete_path "$cur"
end

function __bpfswift_dirs -a cur
    __fish_complete_directories "$cur" ''
end

function __bpfswift_objfiles -a cur
    __fish_complete_suffix "$cur" .o 'BPF object'
end

# Selector keywords of KIND.
function __bpfswift_selector_words -a kind
    switch $kind
        case prog
            printf '%s\t%s\n' id PROG_ID pinned FILE tag PROG_TAG name PROG_NAME
        case map
            printf '%s\t%s\n' id MAP_ID pinned FILE name MAP_NAME
        case link
            printf '%s\t%s\n' id LINK_ID pinned FILE
        case struct_ops
            printf '%s\t%s\n' id STRUCT_OPS_MAP_ID name STRUCT_OPS_MAP_NAME
    end
end

# The value after selector KEYWORD of KIND (TYPES: map types to keep).
function __bpfswift_selector_value -a bin keyword kind types cur
    switch $keyword
        case id
            switch $kind
                case prog
                    __bpfswift_fields $bin id '' prog show
                case map
                    __bpfswift_fields $bin id "$types" map show
                case link
                    __bpfswift_fields $bin id '' link show
                case struct_ops
                    __bpfswift_fields $bin id struct_ops map show
            end
        case name
            switch $kind
                case prog
                    __bpfswift_fields $bin name '' prog show
                case map
                    __bpfswift_fields $bin name "$types" map show
                case struct_ops
                    __bpfswift_fields $bin name struct_ops map show
            end
        case tag
            test $kind = prog; and __bpfswift_fields $bin tag '' prog show
        case pinned
            __bpfswift_files "$cur"
    end
end

# Completes a selector starting at args[AT] (1-based); returns 1 when the cursor is past it.
function __bpfswift_selector -a bin at kind types cur
    set -l args $argv[6..-1]
    set -l n (count $args)
    if test $n -eq (math $at - 1)
        __bpfswift_selector_words $kind
        return 0
    end
    if test $n -eq $at
        __bpfswift_selector_value $bin $args[$at] $kind "$types" "$cur"
        return 0
    end
    return 1
end

# Words of a list not yet among SEEN.
function __bpfswift_once
    set -l seen
    set -l words
    set -l into words
    for a in $argv
        if test "$a" = --
            set into seen
            continue
        end
        set -a $into $a
    end
    for w in $words
        contains -- (string split -f1 \t -- $w) $seen; or printf '%s\n' $w
    end
end

function __bpfswift_option_value -a bin obj verb opt cur obj_file
    switch $opt
        case --pin-root
            __bpfswift_dirs "$cur"
        case --enable --disable
            if test $obj = struct_ops
                __bpfswift_object_maps $bin "$obj_file" struct_ops
            else
                __bpfswift_object_maps $bin "$obj_file"
            end
        case --map --pin-map
            if string match -q -- '*=*' "$cur"
                set -l name (string split -m1 -f1 = -- "$cur")
                set -l file (string split -m1 -f2 = -- "$cur")
                for f in (__bpfswift_files $file)
                    echo $name=$f
                end
            else
                for m in (__bpfswift_object_maps $bin "$obj_file")
                    echo $m=
                end
            end
        case --lang
            printf '%s\n' swift c
        case --metadata
            string match -q -- '*=*' "$cur"; or __bpfswift_metadata_keys $bin
    end
end

function __bpfswift_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l bin $tokens[1]

    # Walk the words before the cursor: global options anywhere, then OBJECT,
    # VERB and the verb's arguments, with command options set aside.
    set -l obj
    set -l verb
    set -l args
    set -l seen
    set -l pending
    set -l endopts 0
    set -l ntok (count $tokens)
    for i in (seq 2 $ntok)
        set -l w $tokens[$i]
        if test -n "$pending"
            set pending
            continue
        end
        if test $endopts -eq 0; and string match -q -- '-*' $w
            if test $w = --
                set endopts 1
                continue
            end
            set -a seen (string split -m1 -f1 = -- $w)
            if not string match -q -- '*=*' $w; and __bpfswift_valued_option $w
                set pending $w
            else if test $w = --metadata
                # --metadata [KEY[=VALUE]]: the next word is its value unless it is an option
                if test $i -eq $ntok; or not string match -q -- '-*' $tokens[(math $i + 1)]
                    set pending $w
                end
            end
            continue
        end
        if test -z "$obj"
            set obj (__bpfswift_expand $w (__bpfswift_objects)); or return 0
        else if test -z "$verb"; and test $obj != version; and test $obj != help
            set verb (__bpfswift_expand $w (__bpfswift_verbs $obj)); or return 0
        else
            set -a args $w
        end
    end

    if test $endopts -eq 0
        if test -n "$pending"
            __bpfswift_option_value $bin "$obj" "$verb" $pending "$cur" "$args[1]"
            return 0
        end
        if string match -q -- '--*=*' "$cur"
            set -l opt (string split -m1 -f1 = -- "$cur")
            if __bpfswift_valued_option $opt; or test $opt = --metadata
                for v in (__bpfswift_option_value $bin "$obj" "$verb" $opt (string split -m1 -f2 = -- "$cur") "$args[1]")
                    echo $opt=$v
                end
            end
            return 0
        end
        if string match -q -- '-*' "$cur"
            __bpfswift_global_options
            __bpfswift_verb_options "$obj" "$verb"
            return 0
        end
    end

    if test -z "$obj"
        __bpfswift_objects
        return 0
    end
    switch $obj
        case help
            if contains -- --man $seen; and test (count $args) -eq 0
                printf '%s\n' prog map link object struct_ops gen btf net cgroup perf iter feature
            end
            return 0
        case version
            return 0
    end
    if test -z "$verb"
        __bpfswift_verbs $obj
        return 0
    end
    test $verb = help; and return 0

    set -l n (count $args)
    set -l prev $tokens[-1]
    switch $obj
        case prog
            switch $verb
                case show list
                    __bpfswift_selector $bin 1 prog '' "$cur" $args; and return 0
                    test $n -eq 2; and __bpfswift_once (__bpfswift_verb_options prog show) -- $seen
                case pin
                    __bpfswift_selector $bin 1 prog '' "$cur" $args; and return 0
                    test $n -eq 2; and __bpfswift_files "$cur"
                case attach detach
                    __bpfswift_selector $bin 1 prog '' "$cur" $args; and return 0
                    test $n -eq 3; and printf '%s\n' sk_skb_stream_parser sk_skb_stream_verdict sk_skb_verdict sk_msg_verdict flow_dissector
                case run
                    __bpfswift_selector $bin 1 prog '' "$cur" $args; and return 0
                    printf '%s\n' data_in data_out data_size_out ctx_in ctx_out ctx_size_out repeat
                case load loadall
                    test $n -le 2; and __bpfswift_files "$cur"
                    test $n -gt 2; and printf '%s\n' type map pinmaps autoattach
                case dump
                    if test $n -eq 0
                        printf '%s\n' xlated jited
                        return 0
                    end
                    __bpfswift_selector $bin 2 prog '' "$cur" $args; and return 0
                    if test "$prev" = file
                        __bpfswift_files "$cur"
                    else if test $n -eq 3
                        if string match -q 'x*' -- $args[1]
                            printf '%s\n' file opcodes linum visual
                        else
                            printf '%s\n' file opcodes linum
                        end
                    end
            end
        case map
            switch $verb
                case show list dump freeze
                    __bpfswift_selector $bin 1 map '' "$cur" $args
                case peek
                    __bpfswift_selector $bin 1 map 'stack queue' "$cur" $args
                case pop
                    __bpfswift_selector $bin 1 map stack "$cur" $args
                case dequeue
                    __bpfswift_selector $bin 1 map queue "$cur" $args
                case lookup getnext delete
                    __bpfswift_selector $bin 1 map '' "$cur" $args; and return 0
                    if test $prev = key
                        echo hex
                    else if test $n -eq 2
                        echo key
                    end
                case update
                    __bpfswift_selector $bin 1 map '' "$cur" $args; and return 0
                    switch $prev
                        case key value
                            echo hex
                        case any exist noexist
                        case '*'
                            __bpfswift_once key value -- $args[3..-1]
                            contains -- value $args[3..-1]; and __bpfswift_once any exist noexist -- $args[3..-1]
                    end
                case push enqueue
                    set -l t stack
                    test $verb = enqueue; and set t queue
                    __bpfswift_selector $bin 1 map $t "$cur" $args; and return 0
                    if test $prev = value
                        echo hex
                    else
                        __bpfswift_once value -- $args[3..-1]
                    end
                case pin
                    __bpfswift_selector $bin 1 map '' "$cur" $args; and return 0
                    test $n -eq 2; and __bpfswift_files "$cur"
                case create
                    if test $n -eq 0
                        __bpfswift_files "$cur"
                        return 0
                    end
                    if test $n -ge 2; and test $args[-2] = inner_map
                        __bpfswift_selector_value $bin $prev map '' "$cur"
                        return 0
                    end
                    switch $prev
                        case type
                            __bpfswift_map_types $bin
                        case key value entries name flags
                        case inner_map
                            __bpfswift_selector_words map
                        case offload_dev dev
                            command ls /sys/class/net 2>/dev/null
                        case '*'
                            __bpfswift_once type key value entries name flags inner_map offload_dev -- $args[2..-1]
                    end
            end
        case link
            switch $verb
                case show list detach
                    __bpfswift_selector $bin 1 link '' "$cur" $args
                case pin
                    __bpfswift_selector $bin 1 link '' "$cur" $args; and return 0
                    test $n -eq 2; and __bpfswift_files "$cur"
            end
        case object
            switch $verb
                case pin
                    switch $n
                        case 0
                            __bpfswift_objfiles "$cur"
                        case 1
                            __bpfswift_dirs "$cur"
                        case '*'
                            __bpfswift_once (__bpfswift_verb_options object pin) -- $seen
                    end
                case show unpin
                    if test $n -eq 0
                        __bpfswift_fields $bin path '' object list
                        __bpfswift_dirs "$cur"
                    end
                case list
                    test $n -eq 0; and __bpfswift_dirs "$cur"
                case inspect
                    test $n -eq 0; and __bpfswift_objfiles "$cur"
            end
        case struct_ops
            switch $verb
                case show list dump unregister
                    __bpfswift_selector $bin 1 struct_ops '' "$cur" $args
                case register
                    switch $n
                        case 0
                            __bpfswift_objfiles "$cur"
                        case 1
                            __bpfswift_dirs "$cur"
                        case '*'
                            __bpfswift_verb_options struct_ops register
                    end
            end
        case feature
            switch $verb
                case probe
                    switch $prev
                        case dev
                            command ls /sys/class/net 2>/dev/null
                        case prefix
                        case '*'
                            set -l kw full unprivileged macros
                            if not contains -- kernel $args; and not contains -- dev $args
                                set kw kernel dev $kw
                            end
                            if contains -- macros $args
                                set kw $kw prefix
                            end
                            __bpfswift_once $kw -- $args
                    end
                case list_builtins
                    if test $n -eq 0
                        printf '%s\n' prog_types map_types attach_types link_types helpers
                    end
            end
        case gen
            switch $verb
                case skeleton
                    if test $n -eq 0
                        __bpfswift_objfiles "$cur"
                    else if test $prev = types
                        printf '%s\t%s\n' used 'full layouts for what the object holds' all 'every type in full'
                    else if test $prev != name
                        __bpfswift_once name types -- $args
                    end
            end
        case btf
            switch $verb
                case show list
                    if test $n -eq 0
                        echo id
                    else if test $n -eq 1
                        __bpfswift_fields $bin id '' btf show
                    end
                case dump
                    if test $n -eq 0
                        printf '%s\n' id prog map file
                        return 0
                    end
                    switch $args[1]
                        case 'p*'
                            __bpfswift_selector $bin 2 prog '' "$cur" $args; and return 0
                        case 'm*'
                            __bpfswift_selector $bin 2 map '' "$cur" $args; and return 0
                        case 'i*'
                            if test $n -eq 1
                                __bpfswift_fields $bin id '' btf show
                                return 0
                            end
                        case 'f*'
                            if test $n -eq 1
                                __bpfswift_files "$cur"
                                return 0
                            end
                    end
                    switch $prev
                        case format
                            printf '%s\n' raw c
                        case c
                            __bpfswift_once unsorted -- $args
                        case '*'
                            if string match -q 'm*' -- $args[1]; and test $n -eq 3
                                printf '%s\n' key value kv all format
                            else
                                __bpfswift_once format -- $args
                            end
                    end
            end
    end
    return 0
end

complete -c bpfswift -e
complete -c bpfswift -f -k -a '(__bpfswift_complete)'
