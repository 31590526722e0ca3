@actor:receiver
Feature: Patient identity is reconciled on import
  Another hospital's patient ID means nothing in the receiving PACS. On import the receiving
  hospital gives the images its own patient ID and keeps the sending hospital's ID beside it, as
  a PDI importer does. A patient it cannot match is never filed under a foreign ID.

  @CPDI-RCV-02 @PDI-IMP-01 @option:core @required
  Scenario: Images get the local patient ID and keep the original
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the patient's ID at the sending hospital is "CPDI0001"
    And the receiving hospital knows patient "山田 太郎" as local patient ID "R0001234"
    When the sending hospital sends the study to the receiving hospital
    Then every image in the receiving PACS has patient ID "R0001234"
    And every image in the receiving PACS keeps patient ID "CPDI0001" among its other patient IDs
    And every image in the receiving PACS equals the image sent, apart from the patient identity

  @CPDI-RCV-02 @option:core @required
  Scenario Outline: A patient the receiver cannot match is not imported: <situation>
    Given a referral study of 3 CT images for patient "山田 太郎"
    And the patient's ID at the sending hospital is "CPDI0001"
    And the receiving hospital has <situation> on record
    When the sending hospital sends the study to the receiving hospital
    Then the receiving PACS holds no image under patient ID "CPDI0001"
    And the receiving hospital is told "the patient needs matching"

    Examples: no single local patient
      | situation                                |
      | no patient of that name and birth date   |
      | two patients of that name and birth date |
      | patient "山田 太郎" born on another day  |

  @PDI-IMP-01 @option:core @required
  Scenario Outline: A name written <how> survives the import unchanged
    Given a referral study of 3 CT images for patient "<name>"
    And the receiving hospital knows patient "<name>" as local patient ID "R0001234"
    When the sending hospital sends the study to the receiving hospital
    Then every image in the receiving PACS has patient ID "R0001234"
    And every image in the receiving PACS names the patient "<name>"

    Examples: how Japanese names are written
      | how                             | name        |
      | in kanji                        | 山田 太郎   |
      | in half-width katakana          | ﾔﾏﾀﾞ ﾀﾛｳ    |
      | with a kanji outside JIS X 0208 | 髙橋 はなこ |
      | in Latin letters                | YAMADA TARO |
