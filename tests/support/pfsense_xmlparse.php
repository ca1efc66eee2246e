<?php
/*
 * Reads a pfSense XML file the way pfSense's config reader
 * (src/etc/inc/xmlparse.inc, parse_xml_config; docs/targets/pfsense.md)
 * does: PHP's expat parser fed 4096-byte blocks, tag names lower-cased,
 * attributes ignored, only list tags may repeat under one parent (any other
 * repeated tag makes the whole file fail to load), text trimmed of tab, CR
 * and LF and run through html_entity_decode, an element without text or
 * children becomes "" (a presence flag).
 *
 * Usage: php pfsense_xmlparse.php MODE FILE, MODE one of
 *  - fragment: a wardwall restore fragment; the list tags are `rule` and
 *    `alias` only (stricter than pfSense); prints
 *    {"aliases": [...], "filter": [...]};
 *  - backup: a full config.xml backup; the list tags of listtags()
 *    (pfSense 2.5); prints {"interfaces": {key: {...}}, "aliases": [...],
 *    "rules": [...]}.
 * Exits 1 with the reason on stderr when pfSense would not load the file,
 * 2 on a usage error.
 */

$mode = $argv[1] ?? null;
$file = $argv[2] ?? null;
if (!in_array($mode, ['fragment', 'backup'], true) || $file === null
    || ($text = file_get_contents($file)) === false) {
    fwrite(STDERR, "usage: php pfsense_xmlparse.php fragment|backup FILE\n");
    exit(2);
}

// listtags() of xmlparse.inc (pfSense 2.5).
$LISTTAGS = [
    'acls', 'alias', 'aliasurl', 'allowedip', 'allowedhostname', 'authserver',
    'bridged', 'build_port_path', 'ca', 'cacert', 'cert', 'crl', 'clone', 'config',
    'container', 'columnitem', 'checkipservice', 'depends_on_package', 'disk',
    'dnsserver', 'dnsupdate', 'domainoverrides', 'dyndns', 'earlyshellcmd', 'element',
    'encryption-algorithm-option', 'field', 'fieldname', 'gateway_item', 'gateway_group',
    'gif', 'gre', 'group', 'hash-algorithm-option', 'hosts', 'ifgroupentry', 'igmpentry',
    'interface_array', 'item', 'key', 'lagg', 'lbaction', 'lbpool', 'l7rules',
    'lbprotocol', 'member', 'menu', 'tab', 'mobilekey', 'monitor_type', 'mount', 'npt',
    'ntpserver', 'onetoone', 'openvpn-server', 'openvpn-client', 'openvpn-csc', 'option',
    'package', 'passthrumac', 'phase1', 'phase2', 'ppp', 'pppoe', 'priv', 'proxyarpnet',
    'pool', 'qinqentry', 'queue', 'pages', 'pipe', 'radnsserver', 'roll', 'route', 'row',
    'rrddatafile', 'rule', 'schedule', 'service', 'servernat', 'servers',
    'serversdisabled', 'shellcmd', 'staticmap', 'subqueue', 'switch', 'swport',
    'timerange', 'tunnel', 'user', 'vip', 'virtual_server', 'vlan', 'vlangroup',
    'winsserver', 'wolentry', 'widget',
];
$LIST = $mode === 'backup' ? array_flip($LISTTAGS) : ['rule' => true, 'alias' => true];
$tree = [];
$path = [];
$depth = 0;
$filled = 0;

function &at(array &$tree, array $path)
{
    $p = &$tree;
    foreach ($path as $key) {
        $p = &$p[$key];
    }
    return $p;
}

function on_start($parser, $name, $attrs)
{
    global $LIST, $tree, $path, $depth, $filled;
    $name = strtolower($name);
    $path[] = $name;
    $node = &at($tree, $path);
    if (isset($LIST[$name])) {
        if (!is_array($node)) {
            $node = [];
        }
        $path[] = count($node);
    } elseif (isset($node)) {
        throw new Exception("<$name> cannot occur more than once (line "
            . xml_get_current_line_number($parser) . ")");
    }
    $depth++;
    $filled = $depth;
}

function on_end($parser, $name)
{
    global $LIST, $tree, $path, $depth, $filled;
    if ($filled == $depth) {
        $node = &at($tree, $path);
        $node = "";
    }
    array_pop($path);
    if (isset($LIST[strtolower($name)])) {
        array_pop($path);
    }
    $depth--;
}

function on_text($parser, $data)
{
    global $tree, $path, $filled;
    $data = trim($data, "\t\n\r");
    if ($data === "") {
        return;
    }
    $node = &at($tree, $path);
    if (is_string($node)) {
        $node .= html_entity_decode($data);
    } elseif (trim($data, " ") !== "") {
        $node = html_entity_decode($data);
        $filled++;
    }
}

$parser = xml_parser_create();
xml_set_element_handler($parser, 'on_start', 'on_end');
xml_set_character_data_handler($parser, 'on_text');
xml_parser_set_option($parser, XML_OPTION_SKIP_WHITE, 1);
try {
    // pfSense feeds the parser 4096-byte blocks, which splits text nodes
    // into more chunks; do the same.
    $blocks = str_split($text, 4096);
    foreach ($blocks as $i => $block) {
        if (!xml_parse($parser, $block, $i == count($blocks) - 1)) {
            throw new Exception('XML error: ' . xml_error_string(xml_get_error_code($parser))
                . ' at line ' . xml_get_current_line_number($parser));
        }
    }
} catch (Exception $e) {
    fwrite(STDERR, $e->getMessage() . "\n");
    exit(1);
}
$root = $tree['pfsense'] ?? null;
$mode === 'backup' ? print_backup($root) : print_fragment($root);

function print_fragment($root)
{
    if (!is_array($root) || !is_array($root['filter'] ?? null)) {
        fwrite(STDERR, "no pfsense/filter section\n");
        exit(1);
    }
    $aliases = is_array($root['aliases'] ?? null) ? ($root['aliases']['alias'] ?? []) : [];
    echo json_encode(['aliases' => $aliases, 'filter' => $root['filter']['rule'] ?? []],
        JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
}

function print_backup($root)
{
    if (!is_array($root) || !is_array($root['interfaces'] ?? null)) {
        fwrite(STDERR, "no pfsense/interfaces section\n");
        exit(1);
    }
    $interfaces = [];
    foreach ($root['interfaces'] as $key => $iface) {
        $interfaces[$key] = ['enable' => isset($iface['enable']), 'if' => $iface['if'] ?? null];
    }
    $aliases = [];
    foreach ((is_array($root['aliases'] ?? null) ? ($root['aliases']['alias'] ?? []) : []) as $a) {
        $aliases[] = ['name' => $a['name'], 'type' => $a['type'], 'address' => $a['address'] ?? ''];
    }
    $rules = [];
    foreach ((is_array($root['filter'] ?? null) ? ($root['filter']['rule'] ?? []) : []) as $r) {
        $rules[] = [
            'type' => $r['type'] ?? null,
            'interface' => $r['interface'] ?? null,
            'floating' => isset($r['floating']),
            'quick' => isset($r['quick']),
            'disabled' => isset($r['disabled']),
            'descr' => $r['descr'] ?? null,
        ];
    }
    echo json_encode(['interfaces' => $interfaces, 'aliases' => $aliases, 'rules' => $rules],
        JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
}
