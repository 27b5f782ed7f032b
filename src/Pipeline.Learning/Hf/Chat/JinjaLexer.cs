using System.Globalization;
using System.Text;

namespace Pipeline.Learning.Hf.Chat;

internal enum TokenKind { Data, BlockBegin, BlockEnd, VariableBegin, VariableEnd, Name, String, Integer, Float, Operator, End }

internal readonly record struct Token(TokenKind Kind, string Value, int Line);

/// <summary>
/// Splits a template into data and tag tokens with Jinja2's whitespace rules as transformers configures them:
/// trim_blocks (drop the newline after a block or comment tag), lstrip_blocks (drop the indentation before one),
/// <c>-</c> strips all whitespace on that side, <c>+</c> keeps it, and one trailing newline of the template is dropped
/// (keep_trailing_newline = false). Newlines are normalised to <c>\n</c>.
/// </summary>
internal sealed class JinjaLexer
{
    private static readonly string[] Operators =
        ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    private readonly string _src;
    private readonly string _name;
    private readonly List<Token> _tokens = [];
    private int _pos;
    private int _line = 1;

    private JinjaLexer(string source, string name)
    {
        source = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (source.EndsWith('\n')) source = source[..^1];
        _src = source;
        _name = name;
    }

    public static List<Token> Tokenize(string source, string name)
    {
        var lexer = new JinjaLexer(source, name);
        lexer.Run();
        return lexer._tokens;
    }

    private ChatTemplateException Error(string problem) => new(_name, _line, problem);

    private void Run()
    {
        var lineStarting = true;
        var pendingData = new StringBuilder();
        var dataLine = _line;
        while (_pos < _src.Length)
        {
            var open = FindTagOpen(_pos);
            if (open < 0)
            {
                pendingData.Append(_src, _pos, _src.Length - _pos);
                Advance(_src.Length);
                break;
            }
            var text = _src[_pos..open];
            var kind = _src[open + 1]; // '{', '%' or '#'
            var sign = open + 2 < _src.Length && (_src[open + 2] == '-' || _src[open + 2] == '+') ? _src[open + 2] : '\0';
            if (sign == '-')
            {
                text = Py.TrimEnd(text);
            }
            else if (sign != '+' && kind != '{')
            {
                // lstrip_blocks: indentation between the line start and a block or comment tag goes.
                var lineStart = text.LastIndexOf('\n') + 1;
                if ((lineStart > 0 || (lineStarting && pendingData.Length == 0)) && lineStart < text.Length && text.AsSpan(lineStart).ToString().All(Py.IsSpace))
                    text = text[..lineStart];
            }
            pendingData.Append(text);
            Advance(open);
            if (pendingData.Length > 0) _tokens.Add(new Token(TokenKind.Data, pendingData.ToString(), dataLine));
            pendingData.Clear();
            Advance(open + 2 + (sign != '\0' ? 1 : 0));

            if (kind == '#')
            {
                var close = _src.IndexOf("#}", _pos, StringComparison.Ordinal);
                if (close < 0) throw Error("comment '{#' is not closed with '#}'");
                var stripAfter = close > _pos && _src[close - 1] == '-';
                var keep = close > _pos && _src[close - 1] == '+';
                Advance(close + 2);
                AfterTag(stripAfter, keep, trimBlock: true);
            }
            else if (kind == '%' && IsRawTag())
            {
                ReadRaw(pendingData);
            }
            else
            {
                _tokens.Add(new Token(kind == '%' ? TokenKind.BlockBegin : TokenKind.VariableBegin, "", _line));
                ReadTagBody(kind == '%' ? '%' : '}');
            }
            dataLine = _line;
            lineStarting = _pos > 0 && _src[_pos - 1] == '\n';
        }
        if (pendingData.Length > 0) _tokens.Add(new Token(TokenKind.Data, pendingData.ToString(), dataLine));
        _tokens.Add(new Token(TokenKind.End, "", _line));
    }

    private int FindTagOpen(int from)
    {
        for (var i = from; i + 1 < _src.Length; i++)
            if (_src[i] == '{' && (_src[i + 1] == '{' || _src[i + 1] == '%' || _src[i + 1] == '#')) return i;
        return -1;
    }

    private void Advance(int to)
    {
        for (var i = _pos; i < to; i++) if (_src[i] == '\n') _line++;
        _pos = to;
    }

    /// <summary>After a closing tag: <c>-</c> eats all following whitespace; trim_blocks eats one newline after block tags.</summary>
    private void AfterTag(bool stripAfter, bool keep, bool trimBlock)
    {
        if (stripAfter)
        {
            var i = _pos;
            while (i < _src.Length && Py.IsSpace(_src[i])) i++;
            Advance(i);
        }
        else if (trimBlock && !keep && _pos < _src.Length && _src[_pos] == '\n')
        {
            Advance(_pos + 1);
        }
    }

    private bool IsRawTag()
    {
        var i = _pos;
        while (i < _src.Length && char.IsWhiteSpace(_src[i])) i++;
        return string.CompareOrdinal(_src, i, "raw", 0, 3) == 0 && i + 3 < _src.Length && !char.IsLetterOrDigit(_src[i + 3]) && _src[i + 3] != '_';
    }

    private void ReadRaw(StringBuilder pendingData)
    {
        var close = _src.IndexOf("%}", _pos, StringComparison.Ordinal);
        if (close < 0) throw Error("'{% raw' is not closed with '%}'");
        var stripAfter = _src[close - 1] == '-';
        Advance(close + 2);
        AfterTag(stripAfter, keep: false, trimBlock: true);
        var bodyStart = _pos;
        var i = _pos;
        while (true)
        {
            var open = _src.IndexOf("{%", i, StringComparison.Ordinal);
            if (open < 0) throw Error("'{% raw %}' has no '{% endraw %}'");
            var j = open + 2;
            var minus = j < _src.Length && _src[j] == '-';
            if (j < _src.Length && (_src[j] == '-' || _src[j] == '+')) j++;
            while (j < _src.Length && char.IsWhiteSpace(_src[j])) j++;
            if (string.CompareOrdinal(_src, j, "endraw", 0, 6) == 0)
            {
                var end = _src.IndexOf("%}", j, StringComparison.Ordinal);
                if (end < 0) throw Error("'{% endraw' is not closed with '%}'");
                var body = _src[bodyStart..open];
                if (minus) body = Py.TrimEnd(body);
                pendingData.Append(body);
                var endStrip = _src[end - 1] == '-';
                Advance(end + 2);
                AfterTag(endStrip, keep: false, trimBlock: true);
                return;
            }
            i = open + 2;
        }
    }

    private void ReadTagBody(char closer)
    {
        var endKind = closer == '%' ? TokenKind.BlockEnd : TokenKind.VariableEnd;
        while (true)
        {
            while (_pos < _src.Length && char.IsWhiteSpace(_src[_pos])) Advance(_pos + 1);
            if (_pos >= _src.Length) throw Error(closer == '%' ? "block tag '{%' is not closed with '%}'" : "expression '{{' is not closed with '}}'");
            var c = _src[_pos];
            // A closing tag, with an optional whitespace modifier.
            if ((c == '-' || c == '+') && Matches(_pos + 1, closer))
            {
                Advance(_pos + 3);
                _tokens.Add(new Token(endKind, "", _line));
                AfterTag(stripAfter: c == '-', keep: c == '+', trimBlock: closer == '%');
                return;
            }
            if (Matches(_pos, closer))
            {
                Advance(_pos + 2);
                _tokens.Add(new Token(endKind, "", _line));
                AfterTag(stripAfter: false, keep: false, trimBlock: closer == '%');
                return;
            }
            if (char.IsLetter(c) || c == '_')
            {
                var start = _pos;
                while (_pos < _src.Length && (char.IsLetterOrDigit(_src[_pos]) || _src[_pos] == '_')) _pos++;
                _tokens.Add(new Token(TokenKind.Name, _src[start.._pos], _line));
                continue;
            }
            if (char.IsAsciiDigit(c))
            {
                ReadNumber();
                continue;
            }
            if (c == '\'' || c == '"')
            {
                ReadString(c);
                continue;
            }
            var op = Operators.FirstOrDefault(o => string.CompareOrdinal(_src, _pos, o, 0, o.Length) == 0)
                ?? throw Error($"unexpected character '{c}' in a tag");
            _tokens.Add(new Token(TokenKind.Operator, op, _line));
            _pos += op.Length;
        }
    }

    private bool Matches(int at, char closer) =>
        at + 1 < _src.Length && _src[at] == closer && _src[at + 1] == '}';

    private void ReadNumber()
    {
        var start = _pos;
        while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || _src[_pos] == '_')) _pos++;
        var isFloat = false;
        if (_pos + 1 < _src.Length && _src[_pos] == '.' && char.IsAsciiDigit(_src[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            while (_pos < _src.Length && (char.IsAsciiDigit(_src[_pos]) || _src[_pos] == '_')) _pos++;
        }
        if (_pos < _src.Length && (_src[_pos] == 'e' || _src[_pos] == 'E'))
        {
            var save = _pos;
            _pos++;
            if (_pos < _src.Length && (_src[_pos] == '+' || _src[_pos] == '-')) _pos++;
            if (_pos < _src.Length && char.IsAsciiDigit(_src[_pos]))
            {
                isFloat = true;
                while (_pos < _src.Length && char.IsAsciiDigit(_src[_pos])) _pos++;
            }
            else _pos = save;
        }
        var text = _src[start.._pos].Replace("_", "");
        _tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, text, _line));
    }

    private void ReadString(char quote)
    {
        var line = _line;
        var sb = new StringBuilder();
        var i = _pos + 1;
        while (true)
        {
            if (i >= _src.Length) throw new ChatTemplateException(_name, line, "string literal is not closed");
            var c = _src[i];
            if (c == quote) break;
            if (c != '\\')
            {
                sb.Append(c);
                i++;
                continue;
            }
            if (i + 1 >= _src.Length) throw new ChatTemplateException(_name, line, "string literal is not closed");
            // Python's unicode-escape decoding, as Jinja2 applies it to string literals.
            var e = _src[i + 1];
            i += 2;
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case '\n': break;
                case 'x': sb.Append(Hex(ref i, 2, line)); break;
                case 'u': sb.Append(Hex(ref i, 4, line)); break;
                case 'U': sb.Append(Hex(ref i, 8, line)); break;
                case >= '0' and <= '7':
                {
                    var value = e - '0';
                    for (var k = 0; k < 2 && i < _src.Length && _src[i] >= '0' && _src[i] <= '7'; k++, i++) value = value * 8 + (_src[i] - '0');
                    sb.Append((char)value);
                    break;
                }
                default: sb.Append('\\').Append(e); break;
            }
        }
        _tokens.Add(new Token(TokenKind.String, sb.ToString(), line));
        Advance(i + 1);
    }

    private string Hex(ref int i, int digits, int line)
    {
        if (i + digits > _src.Length || !int.TryParse(_src.AsSpan(i, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code))
            throw new ChatTemplateException(_name, line, $"bad \\{(digits == 2 ? 'x' : digits == 4 ? 'u' : 'U')} escape in a string literal");
        i += digits;
        return char.ConvertFromUtf32(code);
    }
}
