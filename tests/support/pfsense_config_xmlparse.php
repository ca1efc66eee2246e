<?php
/*
 * Reads a full pfSense config.xml backup the way pfSense's config reader
 * (src/etc/inc/xmlparse.inc, parse_xml_config) does: PHP's expat parser fed
 * 4096-byte blocks, tag names lower-cased, attributes ignored, only the
 * list tags of listtags() may repeat (any other repeated tag fails the whole
 * file), text trimmed of tab/CR/LF and HTML-decoded, empty elements become
 * "" (presence flags).
 * Prints {"interfaces": {key: {...}}, "aliases": [...], "rules": [...]} as
 * JSON, or exits 1 with the reason. Usage: php pfsense_config_xmlparse.php FILE
 */

// listtags() of xmlparse.inc (pfSense 2.5).
$LIST = array_flip([
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
]);
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

$file = $argv[1] ?? null;
if ($file === null || ($text = file_get_contents($file)) === false) {
    fwrite(STDERR, "usage: php pfsense_config_xmlparse.php FILE\n");
    exit(2);
}
$parser = xml_parser_create();
xml_set_element_handler($parser, 'on_start', 'on_end');
xml_set_character_data_handler($parser, 'on_text');
xml_parser_set_option($parser, XML_OPTION_SKIP_WHITE, 1);
try {
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
