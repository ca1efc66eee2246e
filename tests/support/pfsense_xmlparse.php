<?php
/*
 * Reads a wardwall pfSense fragment the way pfSense's config reader
 * (xmlparse.inc) does, as documented in docs/targets/pfsense.md:
 *  - PHP's expat-based xml_parser, tag names lower-cased, attributes ignored;
 *  - only list tags (here `rule` and `alias`) may repeat under one parent;
 *    any other repeated tag makes the whole file fail to load;
 *  - text is trimmed of tab, CR and LF, then run through html_entity_decode;
 *  - an element without text or children becomes "" (a presence flag).
 * Prints {"aliases": [...], "filter": [...]} as JSON, or exits 1 with the
 * reason on stderr. Usage: php pfsense_xmlparse.php FILE
 */

$LIST = ['rule' => true, 'alias' => true];
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
    fwrite(STDERR, "usage: php pfsense_xmlparse.php FILE\n");
    exit(2);
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
if (!is_array($root) || !is_array($root['filter'] ?? null)) {
    fwrite(STDERR, "no pfsense/filter section\n");
    exit(1);
}
$aliases = is_array($root['aliases'] ?? null) ? ($root['aliases']['alias'] ?? []) : [];
echo json_encode(['aliases' => $aliases, 'filter' => $root['filter']['rule'] ?? []],
    JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), "\n";
