# bpfswift(8) bash completion                               -*- shell-script -*-
#
# Objects, verbs and options follow bpfswift's command tables (a test drives
# this file against them, see Tests/BPFSwiftCLITests/CompletionTests.swift).
# Live ids and names come from the bpfswift being completed, through its
# pretty JSON (`bpfswift -p prog show`, ...), so they need the privileges the
# command itself needs; without them nothing is offered.
#
# Install: copy to /usr/share/bash-completion/completions/bpfswift (scripts/install does).

_bpfswift_objects='prog map link object struct_ops gen btf net cgroup perf iter feature version help'
_bpfswift_global_options='-j --json -p --pretty -d --debug -f --bpffs -h --help -V --version'

# The verbs of an object, in command-table order (a prefix selects the first
# verb it starts with, as bpfswift does); `help` last, as in the dispatcher.
_bpfswift_verbs()
{
    case $1 in
        prog) echo 'show list pin dump load loadall attach detach run tracelog help' ;;
        map) echo 'show list dump update lookup getnext delete pin create peek push enqueue pop dequeue freeze help' ;;
        link) echo 'show list pin detach help' ;;
        object) echo 'pin show unpin list inspect help' ;;
        struct_ops) echo 'show list register unregister dump help' ;;
        gen) echo 'skeleton help' ;;
        net) echo 'show list attach detach help' ;;
        cgroup) echo 'show list tree attach detach help' ;;
        perf) echo 'show list help' ;;
        iter) echo 'pin help' ;;
        feature) echo 'probe list_builtins help' ;;
        btf) echo 'show list dump help' ;;
    esac
}

# The command options of OBJECT VERB (after the global ones).
_bpfswift_verb_options()
{
    case "$1 $2" in
        'prog show'|'prog list') echo '--metadata' ;;
        'object pin') echo '--attach --pin-root --enable --disable --replace --map --pin-map --attach-to' ;;
        'struct_ops register') echo '--enable --disable' ;;
        'gen skeleton') echo '--lang' ;;
        'help '*) echo '--man' ;;
    esac
}

# Command options that take a value (as the next word or after '=').
_bpfswift_valued_option()
{
    case $1 in
        --pin-root|--enable|--disable|--map|--pin-map|--attach-to|--lang) return 0 ;;
    esac
    return 1
}

# The first of the candidate words that starts with WORD.
_bpfswift_expand()
{
    local w=$1 c
    shift
    for c in "$@"; do
        if [[ $c == "$w"* ]]; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

# FIELD of every element of a top-level JSON array that `bpfswift -p ARGS...`
# prints, keeping only elements whose "type" is one of TYPES (all when empty).
# Usage: _bpfswift_fields FIELD TYPES ARGS...
_bpfswift_fields()
{
    local field=$1 types=$2
    shift 2
    "$_bpfswift_bin" -p "$@" 2>/dev/null | command awk -v field="$field" -v types=" $types " '
        /^    \{/ { split("", f); next }
        /^        "[^"]+": / {
            k = $0; sub(/^        "/, "", k); sub(/".*/, "", k)
            v = $0; sub(/^[^:]*: /, "", v); sub(/,$/, "", v); gsub(/^"|"$/, "", v)
            f[k] = v; next
        }
        /^    \}/ {
            if ((field in f) && (types == "  " || index(types, " " f["type"] " ") > 0) && !(f[field] in seen)) { seen[f[field]] = 1; print f[field] }
        }'
}

# Metadata keys of the loaded programs (`prog show --metadata KEY`).
_bpfswift_metadata_keys()
{
    "$_bpfswift_bin" -p prog show --metadata 2>/dev/null | command awk '
        /^        "metadata": \{/ { inside = 1; next }
        inside && /^        \}/ { inside = 0; next }
        inside && /^            "/ { k = $0; sub(/^            "/, "", k); sub(/".*/, "", k); print k }' |
        command sort -u
}

# Map names of the BPF object file OBJ (offline, `object inspect`), only
# struct_ops maps when the second argument is struct_ops.
_bpfswift_object_maps()
{
    local obj=$1 type=${2-}
    [[ -n $obj && -r $obj ]] || return 0
    "$_bpfswift_bin" -p object inspect "$obj" 2>/dev/null | command awk -v want="$type" '
        /^    "maps": \[/ { inside = 1; next }
        inside && /^    \]/ { inside = 0; next }
        inside && /^        \{/ { name = ""; type = ""; next }
        inside && /^            "name": "/ { name = $0; sub(/^            "name": "/, "", name); sub(/",?$/, "", name); next }
        inside && /^            "type": "/ { type = $0; sub(/^            "type": "/, "", type); sub(/",?$/, "", type); next }
        inside && /^        \}/ { if (name != "" && (want == "" || type == want)) print name }'
}

# Map type names, from the TYPE := { ... } line of `bpfswift map help`
# (the names libbpf knows).
_bpfswift_map_types()
{
    "$_bpfswift_bin" map help 2>/dev/null | command sed -n -e '/TYPE := {/!d' -e 's/.*{//' -e 's/}.*//' -e 's/|/ /gp'
}

_bpfswift_add()
{
    local IFS=$' \t\n'
    COMPREPLY+=( $( compgen -W "$*" -- "$cur" ) )
}

# Words of a list not yet on the command line (after the verb).
_bpfswift_once()
{
    local w a found
    for w in "$@"; do
        found=0
        for a in "${args[@]}" "${opts_seen[@]}"; do
            [[ $a == "$w" ]] && { found=1; break; }
        done
        (( found )) || _bpfswift_add "$w"
    done
}

_bpfswift_files()
{
    _filedir "$@"
}

# Completes the value of a selector whose keyword is $1.
# KIND: prog | map | link | struct_ops; TYPES: map types to keep (maps only).
_bpfswift_selector_value()
{
    local keyword=$1 kind=$2 types=${3-}
    case $keyword in
        id)
            case $kind in
                prog) _bpfswift_add "$(_bpfswift_fields id '' prog show)" ;;
                map) _bpfswift_add "$(_bpfswift_fields id "$types" map show)" ;;
                link) _bpfswift_add "$(_bpfswift_fields id '' link show)" ;;
                struct_ops) _bpfswift_add "$(_bpfswift_fields id struct_ops map show)" ;;
            esac
            ;;
        name)
            case $kind in
                prog) _bpfswift_add "$(_bpfswift_fields name '' prog show)" ;;
                map) _bpfswift_add "$(_bpfswift_fields name "$types" map show)" ;;
                struct_ops) _bpfswift_add "$(_bpfswift_fields name struct_ops map show)" ;;
            esac
            ;;
        tag)
            [[ $kind == prog ]] && _bpfswift_add "$(_bpfswift_fields tag '' prog show)"
            ;;
        pinned)
            _bpfswift_files
            ;;
    esac
}

# Completes the selector that starts at args[$1] (words: PROG, MAP, LINK,
# STRUCT_OPS_MAP). Returns 0 when the cursor was inside it.
_bpfswift_selector()
{
    local at=$1 kind=$2 types=${3-}
    local n=${#args[@]}
    if (( n == at )); then
        case $kind in
            prog) _bpfswift_add 'id pinned tag name' ;;
            map) _bpfswift_add 'id pinned name' ;;
            link) _bpfswift_add 'id pinned' ;;
            struct_ops) _bpfswift_add 'id name' ;;
        esac
        return 0
    fi
    if (( n == at + 1 )); then
        _bpfswift_selector_value "${args[at]}" "$kind" "$types"
        return 0
    fi
    return 1
}

# Completes the value of command option OPT; VALUE is what is typed so far.
_bpfswift_option_value()
{
    local opt=$1 cur=$2
    case $opt in
        --pin-root)
            _bpfswift_files -d
            ;;
        --enable|--disable)
            if [[ $obj == struct_ops ]]; then
                _bpfswift_add "$(_bpfswift_object_maps "${args[0]-}" struct_ops)"
            else
                _bpfswift_add "$(_bpfswift_object_maps "${args[0]-}")"
            fi
            ;;
        --map|--pin-map)
            if [[ $cur == *=* ]]; then
                # NAME=FILE: readline replaces the part after '='.
                cur=${cur#*=}
                _bpfswift_files
            else
                local IFS=$'\n' m
                for m in $(_bpfswift_object_maps "${args[0]-}"); do
                    [[ $m == "$cur"* ]] && COMPREPLY+=( "$m=" )
                done
                compopt -o nospace 2>/dev/null
            fi
            ;;
        --lang)
            _bpfswift_add 'swift c'
            ;;
        --metadata)
            [[ $cur == *=* ]] && return 0
            _bpfswift_add "$(_bpfswift_metadata_keys)"
            ;;
    esac
}

_bpfswift()
{
    local cur prev words cword
    _init_completion -n = || return

    local _bpfswift_bin=${words[0]}
    [[ $_bpfswift_bin == \~/* ]] && _bpfswift_bin=$HOME/${_bpfswift_bin#\~/}

    # Walk the words before the cursor: global options anywhere, then OBJECT,
    # VERB and the verb's arguments (args), with command options and their
    # values set aside (opts_seen).
    local i w obj='' verb='' endopts=0 pending=''
    local -a args=() opts_seen=()
    for (( i = 1; i < cword; i++ )); do
        w=${words[i]}
        if [[ -n $pending ]]; then
            pending=''
            continue
        fi
        if (( !endopts )) && [[ $w == -* ]]; then
            [[ $w == -- ]] && { endopts=1; continue; }
            opts_seen+=( "${w%%=*}" )
            if [[ $w != *=* ]] && _bpfswift_valued_option "$w"; then
                pending=$w
            elif [[ $w == --metadata ]] && { (( i + 1 == cword )) || [[ ${words[i+1]} != -* ]]; }; then
                # --metadata [KEY[=VALUE]]: the next word is its value unless it is an option
                pending=$w
            fi
            continue
        fi
        if [[ -z $obj ]]; then
            obj=$(_bpfswift_expand "$w" $_bpfswift_objects) || return 0
        elif [[ -z $verb && $obj != version ]]; then
            if [[ $obj == help ]]; then
                args+=( "$w" )
                continue
            fi
            verb=$(_bpfswift_expand "$w" $(_bpfswift_verbs "$obj")) || return 0
        else
            args+=( "$w" )
        fi
    done

    # The value of a command option: "--opt VALUE" or "--opt=VALUE".
    if (( !endopts )); then
        if [[ -n $pending ]]; then
            _bpfswift_option_value "$pending" "$cur"
            return 0
        fi
        if [[ $cur == --*=* ]] && _bpfswift_valued_option "${cur%%=*}" || [[ $cur == --metadata=* ]]; then
            local opt=${cur%%=*}
            _bpfswift_option_value "$opt" "${cur#*=}"
            return 0
        fi
        if [[ $cur == -* ]]; then
            _bpfswift_add "$_bpfswift_global_options $(_bpfswift_verb_options "$obj" "$verb")"
            return 0
        fi
    fi

    if [[ -z $obj ]]; then
        _bpfswift_add "$_bpfswift_objects"
        return 0
    fi
    if [[ $obj == help ]]; then
        [[ ${opts_seen[*]} == *--man* && ${#args[@]} -eq 0 ]] && _bpfswift_add 'prog map link object struct_ops gen btf net cgroup perf iter feature'
        return 0
    fi
    [[ $obj == version ]] && return 0
    if [[ -z $verb ]]; then
        _bpfswift_add "$(_bpfswift_verbs "$obj")"
        return 0
    fi
    [[ $verb == help ]] && return 0

    local n=${#args[@]}
    case $obj in
        prog)
            case $verb in
                show|list)
                    _bpfswift_selector 0 prog && return 0
                    (( n == 2 )) && _bpfswift_once --metadata
                    ;;
                pin)
                    _bpfswift_selector 0 prog && return 0
                    (( n == 2 )) && _bpfswift_files
                    ;;
                attach|detach)
                    _bpfswift_selector 0 prog && return 0
                    if (( n == 2 )); then
                        _bpfswift_add 'sk_skb_stream_parser sk_skb_stream_verdict sk_skb_verdict sk_msg_verdict flow_dissector'
                    elif (( n >= 3 )); then
                        _bpfswift_selector 3 map
                    fi
                    ;;
                run)
                    _bpfswift_selector 0 prog && return 0
                    case $prev in
                        data_in|data_out|ctx_in|ctx_out) _bpfswift_files ;;
                        data_size_out|ctx_size_out|repeat) ;;
                        *) _bpfswift_once data_in data_out data_size_out ctx_in ctx_out ctx_size_out repeat ;;
                    esac
                    ;;
                load|loadall)
                    case $n in
                        0) _bpfswift_files o ;;
                        1) _bpfswift_files ;;
                        *) case $prev in
                               pinmaps) _bpfswift_files -d ;;
                               map) _bpfswift_add 'idx name' ;;
                               *) _bpfswift_add 'type map pinmaps autoattach' ;;
                           esac ;;
                    esac
                    ;;
            esac
            ;;
        net)
            case $verb in
                show|list) (( n == 0 )) && _bpfswift_add dev; [[ $prev == dev ]] && _bpfswift_add "$(command ls /sys/class/net 2>/dev/null)" ;;
                attach)
                    if (( n == 0 )); then _bpfswift_add 'xdp xdpgeneric xdpdrv xdpoffload tcx_ingress tcx_egress'
                    else _bpfswift_selector 1 prog && return 0
                        case $prev in
                            dev) _bpfswift_add "$(command ls /sys/class/net 2>/dev/null)" ;;
                            *) (( n == 3 )) && _bpfswift_add dev; (( n == 5 )) && _bpfswift_add overwrite ;;
                        esac
                    fi ;;
                detach)
                    case $n in
                        0) _bpfswift_add 'xdp xdpgeneric xdpdrv xdpoffload tcx_ingress tcx_egress' ;;
                        1) _bpfswift_add dev ;;
                        2) _bpfswift_add "$(command ls /sys/class/net 2>/dev/null)" ;;
                    esac ;;
            esac
            ;;
        cgroup)
            case $verb in
                show|list|tree) (( n == 0 )) && _bpfswift_files -d; (( n == 1 )) && _bpfswift_add effective ;;
                attach|detach)
                    case $n in
                        0) _bpfswift_files -d ;;
                        1) _bpfswift_add 'cgroup_inet_ingress cgroup_inet_egress cgroup_inet_sock_create cgroup_sock_ops cgroup_device cgroup_inet4_bind cgroup_inet6_bind cgroup_inet4_post_bind cgroup_inet6_post_bind cgroup_inet4_connect cgroup_inet6_connect cgroup_unix_connect cgroup_inet4_getpeername cgroup_inet6_getpeername cgroup_unix_getpeername cgroup_inet4_getsockname cgroup_inet6_getsockname cgroup_unix_getsockname cgroup_udp4_sendmsg cgroup_udp6_sendmsg cgroup_unix_sendmsg cgroup_udp4_recvmsg cgroup_udp6_recvmsg cgroup_unix_recvmsg cgroup_sysctl cgroup_getsockopt cgroup_setsockopt cgroup_inet_sock_release' ;;
                        *) _bpfswift_selector 2 prog && return 0
                           [[ $verb == attach ]] && _bpfswift_add 'multi override' ;;
                    esac ;;
            esac
            ;;
        iter)
            case $verb in
                pin)
                    case $n in
                        0) _bpfswift_files o ;;
                        1) _bpfswift_files ;;
                        2) _bpfswift_add map ;;
                        *) _bpfswift_selector 3 map ;;
                    esac ;;
                dump)
                    if (( n == 0 )); then
                        _bpfswift_add 'xlated jited'
                        return 0
                    fi
                    _bpfswift_selector 1 prog && return 0
                    if [[ $prev == file ]]; then
                        _bpfswift_files
                    elif (( n == 3 )); then
                        [[ ${args[0]} == x* ]] && _bpfswift_add 'file opcodes linum visual' || _bpfswift_add 'file opcodes linum'
                    fi
                    ;;
            esac
            ;;
        map)
            case $verb in
                show|list|dump|freeze)
                    _bpfswift_selector 0 map
                    ;;
                peek)
                    _bpfswift_selector 0 map 'stack queue'
                    ;;
                pop)
                    _bpfswift_selector 0 map stack
                    ;;
                dequeue)
                    _bpfswift_selector 0 map queue
                    ;;
                lookup|getnext|delete)
                    _bpfswift_selector 0 map && return 0
                    if [[ $prev == key ]]; then
                        _bpfswift_add hex
                    elif (( n == 2 )); then
                        _bpfswift_add key
                    fi
                    ;;
                update)
                    _bpfswift_selector 0 map && return 0
                    case $prev in
                        key|value) _bpfswift_add hex ;;
                        any|exist|noexist) ;;
                        *)
                            _bpfswift_once key value
                            local a
                            for a in "${args[@]:2}"; do
                                [[ $a == value ]] && { _bpfswift_once any exist noexist; break; }
                            done
                            ;;
                    esac
                    ;;
                push|enqueue)
                    local t=stack
                    [[ $verb == enqueue ]] && t=queue
                    _bpfswift_selector 0 map "$t" && return 0
                    if [[ $prev == value ]]; then
                        _bpfswift_add hex
                    else
                        _bpfswift_once value
                    fi
                    ;;
                pin)
                    _bpfswift_selector 0 map && return 0
                    (( n == 2 )) && _bpfswift_files
                    ;;
                create)
                    if (( n == 0 )); then
                        _bpfswift_files
                        return 0
                    fi
                    local pprev=${words[cword-2]}
                    if [[ $pprev == inner_map ]]; then
                        _bpfswift_selector_value "$prev" map
                        return 0
                    fi
                    case $prev in
                        type) _bpfswift_add "$(_bpfswift_map_types)" ;;
                        key|value|entries|name|flags) ;;
                        inner_map) _bpfswift_add 'id pinned name' ;;
                        offload_dev|dev) _bpfswift_add "$(command ls /sys/class/net 2>/dev/null)" ;;
                        *) _bpfswift_once type key value entries name flags inner_map offload_dev ;;
                    esac
                    ;;
            esac
            ;;
        link)
            case $verb in
                show|list|detach)
                    _bpfswift_selector 0 link
                    ;;
                pin)
                    _bpfswift_selector 0 link && return 0
                    (( n == 2 )) && _bpfswift_files
                    ;;
            esac
            ;;
        object)
            case $verb in
                pin)
                    case $n in
                        0) _bpfswift_files o ;;
                        1) _bpfswift_files -d ;;
                        *) [[ -z $cur ]] && _bpfswift_once $(_bpfswift_verb_options object pin) ;;
                    esac
                    ;;
                show|unpin)
                    if (( n == 0 )); then
                        _bpfswift_add "$(_bpfswift_fields path '' object list)"
                        _bpfswift_files -d
                    fi
                    ;;
                list)
                    (( n == 0 )) && _bpfswift_files -d
                    ;;
                inspect)
                    (( n == 0 )) && _bpfswift_files o
                    ;;
            esac
            ;;
        btf)
            case $verb in
                show|list)
                    case $n in
                        0) _bpfswift_add id ;;
                        1) _bpfswift_add "$(_bpfswift_fields id '' btf show)" ;;
                    esac
                    ;;
                dump)
                    if (( n == 0 )); then
                        _bpfswift_add 'id prog map file'
                        return 0
                    fi
                    case ${args[0]} in
                        p*) _bpfswift_selector 1 prog && return 0 ;;
                        m*) _bpfswift_selector 1 map && return 0 ;;
                        i*) (( n == 1 )) && { _bpfswift_add "$(_bpfswift_fields id '' btf show)"; return 0; } ;;
                        f*) (( n == 1 )) && { _bpfswift_files; return 0; } ;;
                    esac
                    case $prev in
                        format) _bpfswift_add 'raw c' ;;
                        c) _bpfswift_once unsorted ;;
                        *)
                            if [[ ${args[0]} == m* ]] && (( n == 3 )); then
                                _bpfswift_add 'key value kv all format'
                            else
                                _bpfswift_once format
                            fi
                            ;;
                    esac
                    ;;
            esac
            ;;
        struct_ops)
            case $verb in
                show|list|dump|unregister)
                    _bpfswift_selector 0 struct_ops
                    ;;
                register)
                    case $n in
                        0) _bpfswift_files o ;;
                        1) _bpfswift_files -d ;;
                        *) [[ -z $cur ]] && _bpfswift_add '--enable --disable' ;;
                    esac
                    ;;
            esac
            ;;
        feature)
            case $verb in
                probe)
                    case $prev in
                        dev) _bpfswift_add "$(command ls /sys/class/net 2>/dev/null)" ;;
                        prefix) ;;
                        *)
                            local kw='full unprivileged macros'
                            [[ " ${args[*]} " == *' kernel '* || " ${args[*]} " == *' dev '* ]] || kw="kernel dev $kw"
                            [[ " ${args[*]} " == *' macros '* ]] && kw="$kw prefix"
                            _bpfswift_once $kw
                            ;;
                    esac
                    ;;
                list_builtins)
                    (( n == 0 )) && _bpfswift_add 'prog_types map_types attach_types link_types helpers'
                    ;;
            esac
            ;;
        gen)
            case $verb in
                skeleton)
                    if (( n == 0 )); then
                        _bpfswift_files o
                    elif [[ $prev == types ]]; then
                        _bpfswift_add 'used all'
                    elif [[ $prev != name ]]; then
                        _bpfswift_once name types
                    fi
                    ;;
            esac
            ;;
    esac
    return 0
} &&
complete -F _bpfswift bpfswift

# ex: ts=4 sw=4 et filetype=sh
