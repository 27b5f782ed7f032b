using System.Globalization;

namespace Pipeline.Learning.Hf.Chat;

/// <summary>
/// Recursive-descent parser for the Jinja2 subset that chat templates use, with Jinja2's precedence:
/// conditional, or, and, not, comparisons (incl. <c>in</c>), + -, ~, * / // %, **, unary - +, then postfix
/// (<c>.attr</c>, <c>[index]</c>, <c>[a:b:c]</c>, calls) and filters / tests (<c>|f</c>, <c>is t</c>).
/// </summary>
internal sealed class JinjaParser
{
    private readonly List<Token> _tokens;
    private readonly string _name;
    private int _i;

    private JinjaParser(List<Token> tokens, string name)
    {
        _tokens = tokens;
        _name = name;
    }

    public static IReadOnlyList<Stmt> Parse(string source, string name)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(source, name), name);
        var body = parser.ParseBody(out var endTag);
        if (endTag is not null) throw parser.Error($"unexpected '{{% {endTag} %}}' with no open block");
        return body;
    }

    private Token Peek => _tokens[_i];
    private Token PeekAt(int k) => _tokens[Math.Min(_i + k, _tokens.Count - 1)];
    private Token Next() => _tokens[_i++];

    private ChatTemplateException Error(string problem, int? line = null) => new(_name, line ?? Peek.Line, problem);

    private bool IsOp(string op) => Peek.Kind == TokenKind.Operator && Peek.Value == op;
    private bool IsName(string name) => Peek.Kind == TokenKind.Name && Peek.Value == name;

    private void ExpectOp(string op)
    {
        if (!IsOp(op)) throw Error($"expected '{op}', got {Describe(Peek)}");
        _i++;
    }

    private string ExpectName()
    {
        if (Peek.Kind != TokenKind.Name) throw Error($"expected a name, got {Describe(Peek)}");
        return Next().Value;
    }

    private void ExpectBlockEnd()
    {
        if (Peek.Kind != TokenKind.BlockEnd) throw Error($"expected '%}}', got {Describe(Peek)}");
        _i++;
    }

    private static string Describe(Token t) => t.Kind switch
    {
        TokenKind.End => "the end of the template",
        TokenKind.BlockEnd => "'%}'",
        TokenKind.VariableEnd => "'}}'",
        TokenKind.String => $"string '{t.Value}'",
        _ => $"'{t.Value}'",
    };

    /// <summary>Statements up to an end tag of the caller's block; returns that tag's name (null at the end of the template).</summary>
    private List<Stmt> ParseBody(out string? endTag, params string[] enders)
    {
        var body = new List<Stmt>();
        while (true)
        {
            var t = Peek;
            switch (t.Kind)
            {
                case TokenKind.End:
                    endTag = null;
                    return body;
                case TokenKind.Data:
                    _i++;
                    body.Add(new OutputText(t.Line, t.Value));
                    break;
                case TokenKind.VariableBegin:
                    _i++;
                    var e = ParseExpression();
                    if (Peek.Kind != TokenKind.VariableEnd) throw Error($"expected '}}}}', got {Describe(Peek)}");
                    _i++;
                    body.Add(new OutputExpr(t.Line, e));
                    break;
                case TokenKind.BlockBegin:
                    var keyword = PeekAt(1);
                    if (keyword.Kind == TokenKind.Name && enders.Contains(keyword.Value))
                    {
                        _i += 2;
                        endTag = keyword.Value;
                        return body;
                    }
                    _i++;
                    body.Add(ParseStatement());
                    break;
                default:
                    throw Error($"unexpected {Describe(t)}");
            }
        }
    }

    private List<Stmt> ParseBlockBody(string opener, int line, out string endTag, params string[] enders)
    {
        var body = ParseBody(out var end, enders);
        endTag = end ?? throw Error($"'{{% {opener} %}}' opened on line {line} is never closed (expected {string.Join(" or ", enders.Select(x => $"'{{% {x} %}}'"))})");
        return body;
    }

    private Stmt ParseStatement()
    {
        var t = Peek;
        if (t.Kind != TokenKind.Name) throw Error($"expected a statement name after '{{%', got {Describe(t)}");
        _i++;
        switch (t.Value)
        {
            case "if": return ParseIf(t.Line);
            case "for": return ParseFor(t.Line);
            case "set": return ParseSet(t.Line);
            case "macro": return ParseMacro(t.Line);
            case "break": ExpectBlockEnd(); return new BreakStmt(t.Line);
            case "continue": ExpectBlockEnd(); return new ContinueStmt(t.Line);
            case "generation":
            {
                ExpectBlockEnd();
                var body = ParseBlockBody("generation", t.Line, out _, "endgeneration");
                ExpectBlockEnd();
                return new GenerationStmt(t.Line, body);
            }
            default:
                throw Error($"unsupported statement '{{% {t.Value} %}}' (supported: if, for, set, macro, break, continue, raw, generation)", t.Line);
        }
    }

    private Stmt ParseIf(int line)
    {
        var branches = new List<(Expr, IReadOnlyList<Stmt>)>();
        var test = ParseExpression();
        ExpectBlockEnd();
        while (true)
        {
            var body = ParseBlockBody("if", line, out var end, "elif", "else", "endif");
            branches.Add((test, body));
            if (end == "elif")
            {
                test = ParseExpression();
                ExpectBlockEnd();
                continue;
            }
            ExpectBlockEnd();
            if (end == "endif") return new IfStmt(line, branches, null);
            var elseBody = ParseBlockBody("if", line, out _, "endif");
            ExpectBlockEnd();
            return new IfStmt(line, branches, elseBody);
        }
    }

    private Stmt ParseFor(int line)
    {
        var targets = new List<string> { ExpectName() };
        while (IsOp(","))
        {
            _i++;
            targets.Add(ExpectName());
        }
        if (!IsName("in")) throw Error($"expected 'in' in the for loop, got {Describe(Peek)}");
        _i++;
        var iter = ParseConditional(withCondExpr: false);
        Expr? filter = null;
        if (IsName("if"))
        {
            _i++;
            filter = ParseExpression();
        }
        if (IsName("recursive")) throw Error("unsupported: recursive for loops");
        ExpectBlockEnd();
        var body = ParseBlockBody("for", line, out var end, "else", "endfor");
        ExpectBlockEnd();
        List<Stmt>? elseBody = null;
        if (end == "else")
        {
            elseBody = ParseBlockBody("for", line, out _, "endfor");
            ExpectBlockEnd();
        }
        return new ForStmt(line, targets, iter, filter, body, elseBody);
    }

    private Stmt ParseSet(int line)
    {
        var first = ExpectName();
        if (IsOp("."))
        {
            _i++;
            var attribute = ExpectName();
            ExpectOp("=");
            var v = ParseExpression();
            ExpectBlockEnd();
            return new SetStmt(line, [first], attribute, v);
        }
        var targets = new List<string> { first };
        while (IsOp(","))
        {
            _i++;
            targets.Add(ExpectName());
        }
        if (Peek.Kind == TokenKind.BlockEnd && targets.Count == 1)
        {
            _i++;
            var body = ParseBlockBody("set", line, out _, "endset");
            ExpectBlockEnd();
            return new SetBlockStmt(line, first, body);
        }
        ExpectOp("=");
        var value = ParseExpression();
        ExpectBlockEnd();
        return new SetStmt(line, targets, null, value);
    }

    private Stmt ParseMacro(int line)
    {
        var name = ExpectName();
        ExpectOp("(");
        var parameters = new List<(string, Expr?)>();
        while (!IsOp(")"))
        {
            if (parameters.Count > 0) ExpectOp(",");
            var p = ExpectName();
            Expr? dflt = null;
            if (IsOp("="))
            {
                _i++;
                dflt = ParseExpression();
            }
            parameters.Add((p, dflt));
        }
        _i++;
        ExpectBlockEnd();
        var body = ParseBlockBody("macro", line, out _, "endmacro");
        ExpectBlockEnd();
        return new MacroStmt(line, name, parameters, body);
    }

    // ---- expressions ----

    private Expr ParseExpression() => ParseConditional(withCondExpr: true);

    private Expr ParseConditional(bool withCondExpr)
    {
        var expr = ParseOr();
        while (withCondExpr && IsName("if"))
        {
            var line = Next().Line;
            var test = ParseOr();
            Expr? otherwise = null;
            if (IsName("else"))
            {
                _i++;
                otherwise = ParseConditional(true);
            }
            expr = new CondExpr(line, test, expr, otherwise);
        }
        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (IsName("or"))
        {
            var line = Next().Line;
            left = new BinaryExpr(line, "or", left, ParseAnd());
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (IsName("and"))
        {
            var line = Next().Line;
            left = new BinaryExpr(line, "and", left, ParseNot());
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (IsName("not"))
        {
            var line = Next().Line;
            return new UnaryExpr(line, "not", ParseNot());
        }
        return ParseCompare();
    }

    private static readonly string[] CompareOps = ["==", "!=", "<", "<=", ">", ">="];

    private Expr ParseCompare()
    {
        var left = ParseMath1();
        while (true)
        {
            var line = Peek.Line;
            if (Peek.Kind == TokenKind.Operator && CompareOps.Contains(Peek.Value))
            {
                var op = Next().Value;
                left = new BinaryExpr(line, op, left, ParseMath1());
            }
            else if (IsName("in"))
            {
                _i++;
                left = new BinaryExpr(line, "in", left, ParseMath1());
            }
            else if (IsName("not") && PeekAt(1).Kind == TokenKind.Name && PeekAt(1).Value == "in")
            {
                _i += 2;
                left = new BinaryExpr(line, "not in", left, ParseMath1());
            }
            else return left;
        }
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (IsOp("+") || IsOp("-"))
        {
            var t = Next();
            left = new BinaryExpr(t.Line, t.Value, left, ParseConcat());
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var left = ParseMath2();
        while (IsOp("~"))
        {
            var t = Next();
            left = new BinaryExpr(t.Line, "~", left, ParseMath2());
        }
        return left;
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%"))
        {
            var t = Next();
            left = new BinaryExpr(t.Line, t.Value, left, ParsePow());
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (IsOp("**"))
        {
            var t = Next();
            left = new BinaryExpr(t.Line, "**", left, ParseUnary(withFilter: true));
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        Expr node;
        if (IsOp("-") || IsOp("+"))
        {
            var t = Next();
            node = new UnaryExpr(t.Line, t.Value, ParseUnary(withFilter: false));
        }
        else node = ParsePostfix(ParsePrimary());
        return withFilter ? ParseFilters(node) : node;
    }

    private Expr ParsePrimary()
    {
        var t = Next();
        switch (t.Kind)
        {
            case TokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new Literal(t.Line, true),
                    "false" or "False" => new Literal(t.Line, false),
                    "none" or "None" => new Literal(t.Line, null),
                    _ => new NameRef(t.Line, t.Value),
                };
            case TokenKind.String:
            {
                var s = t.Value;
                while (Peek.Kind == TokenKind.String) s += Next().Value; // adjacent literals concatenate
                return new Literal(t.Line, s);
            }
            case TokenKind.Integer:
                return new Literal(t.Line, long.Parse(t.Value, CultureInfo.InvariantCulture));
            case TokenKind.Float:
                return new Literal(t.Line, double.Parse(t.Value, CultureInfo.InvariantCulture));
            case TokenKind.Operator when t.Value == "(":
            {
                if (IsOp(")"))
                {
                    _i++;
                    return new ListExpr(t.Line, [], IsTuple: true);
                }
                var first = ParseExpression();
                if (!IsOp(","))
                {
                    ExpectOp(")");
                    return first;
                }
                var items = new List<Expr> { first };
                while (IsOp(","))
                {
                    _i++;
                    if (IsOp(")")) break;
                    items.Add(ParseExpression());
                }
                ExpectOp(")");
                return new ListExpr(t.Line, items, IsTuple: true);
            }
            case TokenKind.Operator when t.Value == "[":
            {
                var items = new List<Expr>();
                while (!IsOp("]"))
                {
                    if (items.Count > 0)
                    {
                        ExpectOp(",");
                        if (IsOp("]")) break;
                    }
                    items.Add(ParseExpression());
                }
                _i++;
                return new ListExpr(t.Line, items);
            }
            case TokenKind.Operator when t.Value == "{":
            {
                var items = new List<(Expr, Expr)>();
                while (!IsOp("}"))
                {
                    if (items.Count > 0)
                    {
                        ExpectOp(",");
                        if (IsOp("}")) break;
                    }
                    var key = ParseExpression();
                    ExpectOp(":");
                    items.Add((key, ParseExpression()));
                }
                _i++;
                return new DictExpr(t.Line, items);
            }
            default:
                throw Error($"unexpected {Describe(t)} in an expression", t.Line);
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            if (IsOp("."))
            {
                var line = Next().Line;
                if (Peek.Kind == TokenKind.Integer) node = new GetItem(line, node, new Literal(line, long.Parse(Next().Value, CultureInfo.InvariantCulture)));
                else node = new GetAttr(line, node, ExpectName());
            }
            else if (IsOp("["))
            {
                var line = Next().Line;
                node = ParseSubscript(line, node);
            }
            else if (IsOp("("))
            {
                var line = Next().Line;
                var (args, kwargs) = ParseCallArgs();
                node = new CallExpr(line, node, args, kwargs);
            }
            else return node;
        }
    }

    private Expr ParseSubscript(int line, Expr target)
    {
        Expr? start = null, stop = null, step = null;
        if (!IsOp(":")) start = ParseExpression();
        if (IsOp("]"))
        {
            _i++;
            return new GetItem(line, target, start ?? throw Error("empty subscript '[]'"));
        }
        ExpectOp(":");
        if (!IsOp(":") && !IsOp("]")) stop = ParseExpression();
        if (IsOp(":"))
        {
            _i++;
            if (!IsOp("]")) step = ParseExpression();
        }
        ExpectOp("]");
        return new SliceExpr(line, target, start, stop, step);
    }

    /// <summary>Arguments after an opening parenthesis, through the closing one.</summary>
    private (List<Expr>, List<(string, Expr)>) ParseCallArgs()
    {
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        while (!IsOp(")"))
        {
            if (args.Count + kwargs.Count > 0)
            {
                ExpectOp(",");
                if (IsOp(")")) break;
            }
            if (Peek.Kind == TokenKind.Name && PeekAt(1).Kind == TokenKind.Operator && PeekAt(1).Value == "=")
            {
                var name = Next().Value;
                _i++;
                kwargs.Add((name, ParseExpression()));
            }
            else
            {
                if (kwargs.Count > 0) throw Error("a positional argument follows a keyword argument");
                args.Add(ParseExpression());
            }
        }
        _i++;
        return (args, kwargs);
    }

    private Expr ParseFilters(Expr node)
    {
        while (true)
        {
            if (IsOp("|"))
            {
                var line = Next().Line;
                var name = ExpectName();
                List<Expr> args = [];
                List<(string, Expr)> kwargs = [];
                if (IsOp("("))
                {
                    _i++;
                    (args, kwargs) = ParseCallArgs();
                }
                node = new FilterExpr(line, node, name, args, kwargs);
            }
            else if (IsName("is"))
            {
                var line = Next().Line;
                var negated = false;
                if (IsName("not"))
                {
                    _i++;
                    negated = true;
                }
                var name = Peek.Kind == TokenKind.Name ? Next().Value
                    : Peek.Kind == TokenKind.Operator && (Peek.Value is "==" or "!=" or "<" or "<=" or ">" or ">=") ? Next().Value
                    : throw Error($"expected a test name after 'is', got {Describe(Peek)}");
                List<Expr> args = [];
                if (IsOp("("))
                {
                    _i++;
                    (args, var kw) = ParseCallArgs();
                    if (kw.Count > 0) throw Error($"test '{name}' takes no keyword arguments", line);
                }
                else if (Peek.Kind is TokenKind.String or TokenKind.Integer or TokenKind.Float
                         || (Peek.Kind == TokenKind.Name && Peek.Value is not ("and" or "or" or "else" or "if" or "is" or "in" or "not")))
                {
                    // Jinja2 allows one argument without parentheses: `x is divisibleby 3`, `x is sameas none`.
                    args = [ParsePostfix(ParsePrimary())];
                }
                node = new TestExpr(line, node, name, args, negated);
            }
            else return node;
        }
    }
}
